/**
 * The domain instrumentation (src/telemetry) over the OpenTelemetry API, with recording tracer and meter
 * providers and an AsyncLocalStorage context manager registered by the test (no SDK): trace context
 * capture and parenting, the run scope, `agent.run` / `llm.generation` through the real runner and
 * resilience layer, content only when allowed, workflow spans, metrics and events from the record
 * activity (once per transition), and a no-op without any provider.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  metrics,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type ContextManager,
  type Meter,
  type MeterProvider,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { createAgentRunner } from '../../src/agents/runner';
import { loadConfig } from '../../src/config';
import { costOf } from '../../src/llm/cost';
import { createModelResolver } from '../../src/llm/factory';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { MemoryRunStore } from '../../src/store/memory-runs';
import {
  currentTraceparent,
  parseTraceparent,
  runScopeOf,
  statusSnapshot,
  traceEnded,
  withRunScope,
} from '../../src/telemetry';
import { formatTraceparent, runScopeAttributes, withParent } from '../../src/telemetry/context';
import { setEventSink, setRecordContent, type CustomEvent } from '../../src/telemetry/state';
import { recordActivity, type WorkflowActivityDeps } from '../../src/workflows/activities';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

class RecordingSpan implements Span {
  attributes: Attributes = {};
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  exceptions: unknown[] = [];
  endTime?: TimeInput;

  constructor(
    readonly name: string,
    readonly options: SpanOptions,
    readonly parent: SpanContext | undefined,
    private readonly own: SpanContext,
  ) {
    Object.assign(this.attributes, options.attributes);
  }
  spanContext = (): SpanContext => this.own;
  setAttribute(key: string, value: any): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent = (): this => this;
  addLink = (): this => this;
  addLinks = (): this => this;
  updateName = (): this => this;
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  end(endTime?: TimeInput): void {
    if (this.endTime !== undefined) throw new Error(`span ${this.name} ended twice`);
    this.endTime = endTime ?? new Date();
  }
  isRecording = (): boolean => this.endTime === undefined;
  recordException(exception: unknown): void {
    this.exceptions.push(exception);
  }
}

let spans: RecordingSpan[] = [];
let nextId = 1;
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

const tracer: Tracer = {
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = trace.getSpanContext(ctx);
    const own = {
      traceId: parent?.traceId ?? hex(nextId++, 32),
      spanId: hex(nextId++, 16),
      traceFlags: 1,
    };
    const span = new RecordingSpan(name, options, parent, own);
    spans.push(span);
    return span;
  },
  startActiveSpan(): never {
    throw new Error('not used');
  },
};
const tracerProvider: TracerProvider = { getTracer: () => tracer };

class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active = (): Context => this.als.getStore() ?? ROOT_CONTEXT;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.als.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind = <T>(_ctx: Context, target: T): T => target;
  enable = (): this => this;
  disable = (): this => {
    this.als.disable();
    return this;
  };
}

let points: { name: string; value: number; attributes: Attributes }[] = [];
const instrument = (name: string) => ({
  add: (value: number, attributes: Attributes = {}) => points.push({ name, value, attributes }),
  record: (value: number, attributes: Attributes = {}) => points.push({ name, value, attributes }),
});
const meter = {
  createCounter: instrument,
  createHistogram: instrument,
} as unknown as Meter;
const meterProvider: MeterProvider = { getMeter: () => meter };

let events: CustomEvent[] = [];

beforeAll(() => {
  context.setGlobalContextManager(new AlsContextManager());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
});

afterAll(() => {
  trace.disable();
  metrics.disable();
  context.disable();
  setEventSink(undefined);
  setRecordContent(false);
});

beforeEach(() => {
  spans = [];
  points = [];
  events = [];
  setEventSink((e) => events.push(e));
  setRecordContent(false);
});

const named = (name: string): RecordingSpan[] => spans.filter((s) => s.name === name);

describe('trace context', () => {
  it('parses and formats W3C traceparents, rejecting invalid ones', () => {
    const parsed = parseTraceparent(TRACEPARENT)!;
    expect(parsed).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
      isRemote: true,
    });
    expect(formatTraceparent(parsed)).toBe(TRACEPARENT);
    for (const bad of [
      undefined,
      '',
      'junk',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
    // A later version may carry more fields.
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x')?.traceFlags).toBe(0);
  });

  it('captures the active span as a traceparent, and nothing outside one', () => {
    expect(currentTraceparent()).toBeUndefined();
    const span = tracer.startSpan('request');
    const id = span.spanContext();
    context.with(trace.setSpan(context.active(), span), () => {
      expect(currentTraceparent()).toBe(`00-${id.traceId}-${id.spanId}-01`);
    });
    expect(trace.getSpanContext(withParent('nonsense'))).toBeUndefined();
  });

  it('runs work in a run scope: spans are children of its traceparent and carry its ids', async () => {
    await withRunScope(
      { runId: 'r1', workflowId: 'wf', tenantId: 't1', stepId: 's1', call: 's1/x', traceparent: TRACEPARENT },
      async () => {
        await Promise.resolve();
        tracer.startSpan('inside').end();
        expect(runScopeAttributes()).toEqual({
          'run.id': 'r1',
          'workflow.id': 'wf',
          'tenant.id': 't1',
          'step.id': 's1',
          'step.call': 's1/x',
        });
      },
    );
    expect(named('inside')[0]!.parent).toMatchObject({ spanId: '00f067aa0ba902b7', isRemote: true });
    expect(runScopeAttributes()).toEqual({});
  });
});

function runner(env: Record<string, string> = {}) {
  const config = loadConfig({ LLM_PROVIDER: 'offline', LLM_MAX_RETRIES: '0', ...env });
  return createAgentRunner({
    store: new MemoryCatalogStore(),
    resolveModel: createModelResolver(config.llm),
    costOf: (model, usage) => costOf(model, usage, { 'offline-1': { input: 1, output: 2 } }),
  });
}

describe('agent.run and llm.generation', () => {
  it('trace an executed agent call, the model call as its child, with GenAI attributes and metrics', async () => {
    const result = await withRunScope({ runId: 'r1', stepId: 'design', traceparent: TRACEPARENT }, () =>
      runner().execute({ agent: 'architect', prompt: 'Design a probe.' }),
    );
    const [agent] = named('agent.run');
    const [llm] = named('llm.generation');
    expect(agent!.parent?.spanId).toBe('00f067aa0ba902b7');
    expect(llm!.parent?.spanId).toBe(agent!.spanContext().spanId);
    expect(agent!.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.system': 'offline',
      'gen_ai.request.model': 'offline-1',
      'gen_ai.response.model': 'offline-1',
      'gen_ai.agent.id': 'architect',
      'gen_ai.agent.name': 'Architect',
      'agent.type': 'architect',
      'gen_ai.usage.input_tokens': result.tokenUsage.prompt,
      'gen_ai.usage.output_tokens': result.tokenUsage.completion,
      'gen_ai.response.finish_reasons': ['stop'],
      'cost.usd': result.cost.total,
      'run.id': 'r1',
      'step.id': 'design',
    });
    expect(llm!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.system': 'offline',
      'llm.provider': 'offline',
      'llm.attempts': 1,
      'run.id': 'r1',
    });
    for (const s of spans) {
      expect(s.endTime).toBeDefined();
      expect(s.attributes['gen_ai.input.messages']).toBeUndefined();
      expect(s.attributes['gen_ai.output.messages']).toBeUndefined();
    }
    expect(points).toEqual([
      {
        name: 'agent.tokens',
        value: result.tokenUsage.prompt,
        attributes: {
          'agent.type': 'architect',
          'gen_ai.response.model': 'offline-1',
          'gen_ai.token.type': 'input',
        },
      },
      {
        name: 'agent.tokens',
        value: result.tokenUsage.completion,
        attributes: {
          'agent.type': 'architect',
          'gen_ai.response.model': 'offline-1',
          'gen_ai.token.type': 'output',
        },
      },
      {
        name: 'agent.cost',
        value: result.cost.total,
        attributes: { 'agent.type': 'architect', 'gen_ai.response.model': 'offline-1' },
      },
    ]);
  });

  it('record prompts and outputs only when content recording is on (streamed calls too)', async () => {
    setRecordContent(true);
    const stream = runner().stream({ agent: 'echo', prompt: 'say it' });
    let step = await stream.next();
    while (!step.done) step = await stream.next();
    const [agent] = named('agent.run');
    const [llm] = named('llm.generation');
    expect(llm!.parent?.spanId).toBe(agent!.spanContext().spanId);
    expect(JSON.parse(String(agent!.attributes['gen_ai.input.messages']))).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'say it' }] },
    ]);
    expect(JSON.parse(String(agent!.attributes['gen_ai.output.messages']))).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: step.value.output }], finish_reason: 'stop' },
    ]);
    const messages = JSON.parse(String(llm!.attributes['gen_ai.input.messages']));
    expect(messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user']);
  });

  it('mark a failed call with its error code and exception, and rethrow it untouched', async () => {
    const failing = runner({ OFFLINE_FAULTS: '500' });
    await expect(failing.execute({ agent: 'echo', prompt: 'x' })).rejects.toMatchObject({
      code: 'LLM.SERVER_ERROR',
    });
    for (const s of [...named('agent.run'), ...named('llm.generation')]) {
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      expect(s.attributes['error.code']).toBe('LLM.SERVER_ERROR');
      expect(s.exceptions).toHaveLength(1);
      expect(s.endTime).toBeDefined();
    }
    await expect(runner().execute({ agent: 'nobody', prompt: 'x' })).rejects.toMatchObject({
      code: 'AGENT.UNKNOWN',
    });
    expect(named('agent.run').at(-1)!.attributes['error.code']).toBe('AGENT.UNKNOWN');
    expect(points).toEqual([]);
  });

  it('end the spans of a stream its consumer abandons', async () => {
    const stream = runner().stream({ agent: 'echo', prompt: 'one two three four five six' });
    await stream.next();
    await stream.return(undefined as never);
    expect(spans.map((s) => [s.name, s.attributes['call.abandoned']])).toEqual([
      ['agent.run', true],
      ['llm.generation', true],
    ]);
    expect(spans.every((s) => s.endTime !== undefined)).toBe(true);
  });
});

describe('workflow spans, metrics and events (the record activity)', () => {
  async function setupRun(traceparent?: string) {
    const store = new MemoryRunStore();
    const deps: WorkflowActivityDeps = {
      agents: undefined as never,
      runs: store,
      events: store,
      deltaFlushMs: 0,
    };
    const { run } = await store.createRun({
      id: 'run-1',
      workflowId: 'wf',
      workflowVersion: '2',
      input: {},
      tenantId: 'acme',
      steps: {
        a: { id: 'a', kind: 'agent', agent: 'architect', status: 'pending', attempts: 0 },
        b: { id: 'b', kind: 'agent', agent: 'builder', status: 'pending', attempts: 0 },
      },
      ...(traceparent && { traceparent }),
    });
    return { store, deps, run };
  }
  const tokens = { prompt: 10, completion: 5, total: 15 };

  it('records each step and the run once, with orchestration times, under the run trace', async () => {
    const { deps } = await setupRun(TRACEPARENT);
    await recordActivity(deps, {
      runId: 'run-1',
      batch: 1,
      events: [],
      run: { status: 'running', at: '2030-01-01T00:00:00.000Z' },
      steps: { a: { status: 'running', startedAt: '2030-01-01T00:00:00.000Z' } },
    });
    expect(spans).toEqual([]);
    const ended = {
      runId: 'run-1',
      batch: 2,
      events: [],
      steps: {
        a: {
          status: 'completed' as const,
          completedAt: '2030-01-01T00:00:02.000Z',
          attempts: 1,
          tokens,
          cost: { currency: 'USD' as const, total: 0.25 },
        },
      },
    };
    await recordActivity(deps, ended);
    await recordActivity(deps, ended); // an activity that runs again reports nothing new
    expect(spans).toHaveLength(1);
    const [step] = spans;
    expect(step!.name).toBe('workflow.step');
    expect(step!.options.startTime).toEqual(new Date('2030-01-01T00:00:00.000Z'));
    expect(step!.endTime).toEqual(new Date('2030-01-01T00:00:02.000Z'));
    expect(step!.parent?.spanId).toBe('00f067aa0ba902b7');
    expect(step!.attributes).toMatchObject({
      'run.id': 'run-1',
      'workflow.id': 'wf',
      'workflow.version': '2',
      'tenant.id': 'acme',
      'step.id': 'a',
      'step.kind': 'agent',
      'step.status': 'completed',
      'agent.type': 'architect',
      'duration.ms': 2000,
      'gen_ai.usage.input_tokens': 10,
      'gen_ai.usage.output_tokens': 5,
      'cost.usd': 0.25,
    });
    expect(points).toEqual([
      {
        name: 'workflow.step.duration',
        value: 2000,
        attributes: {
          'workflow.id': 'wf',
          'step.kind': 'agent',
          'step.status': 'completed',
          'agent.type': 'architect',
        },
      },
    ]);
    expect(events).toEqual([]);

    const error = { code: 'STEP.BOOM', message: 'it broke' };
    const failed = {
      runId: 'run-1',
      batch: 3,
      events: [],
      run: { status: 'failed' as const, at: '2030-01-01T00:00:05.000Z', error },
      steps: {
        b: {
          status: 'failed' as const,
          startedAt: '2030-01-01T00:00:02.000Z',
          completedAt: '2030-01-01T00:00:04.000Z',
          error,
        },
      },
    };
    await recordActivity(deps, failed);
    await recordActivity(deps, failed);
    expect(spans.map((s) => `${s.name}:${s.status.code}`)).toEqual([
      `workflow.step:${SpanStatusCode.UNSET}`,
      `workflow.step:${SpanStatusCode.ERROR}`,
      `workflow.run:${SpanStatusCode.ERROR}`,
    ]);
    const run = spans[2]!;
    expect(run.options.startTime).toEqual(new Date('2030-01-01T00:00:00.000Z'));
    expect(run.endTime).toEqual(new Date('2030-01-01T00:00:05.000Z'));
    expect(run.attributes).toMatchObject({
      'run.status': 'failed',
      'error.code': 'STEP.BOOM',
      'tokens.total': 15,
    });
    expect(points.filter((p) => p.name === 'workflow.failures')).toEqual([
      {
        name: 'workflow.failures',
        value: 1,
        attributes: { 'workflow.id': 'wf', 'failure.scope': 'step', 'error.code': 'STEP.BOOM' },
      },
      {
        name: 'workflow.failures',
        value: 1,
        attributes: { 'workflow.id': 'wf', 'failure.scope': 'run', 'error.code': 'STEP.BOOM' },
      },
    ]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      name: 'RunFailed',
      properties: {
        'run.id': 'run-1',
        'workflow.id': 'wf',
        'workflow.version': '2',
        'tenant.id': 'acme',
        'run.status': 'failed',
        'error.code': 'STEP.BOOM',
        'error.message': 'it broke',
      },
      measurements: {
        'duration.ms': 5000,
        'gen_ai.usage.input_tokens': 10,
        'gen_ai.usage.output_tokens': 5,
        'tokens.total': 15,
        'cost.usd': 0.25,
      },
    });
    // The event belongs to the run's span (its operation, its parent).
    expect(trace.getSpanContext(events[0]!.context!)?.spanId).toBe(run.spanContext().spanId);
  });

  it('names the ending: RunCompleted, RunCancelled; a run without a traceparent uses the active context', async () => {
    for (const status of ['completed', 'cancelled'] as const) {
      const { store, run } = await setupRun();
      const done = await store.updateRun(run.id, (r) => {
        r.status = status;
        r.startedAt = '2030-01-01T00:00:00.000Z';
        r.completedAt = '2030-01-01T00:00:01.000Z';
      });
      traceEnded(statusSnapshot(run), done);
    }
    expect(events.map((e) => e.name)).toEqual(['RunCompleted', 'RunCancelled']);
    expect(spans.map((s) => s.parent)).toEqual([undefined, undefined]);
    expect(points.filter((p) => p.name === 'workflow.failures')).toEqual([]);
    expect(runScopeOf({ ...(await setupRun()).run, traceparent: TRACEPARENT }).traceparent).toBe(TRACEPARENT);
  });

  it('never throws into the work it observes', async () => {
    expect(() => traceEnded({ run: 'running', steps: {} }, undefined as never)).not.toThrow();
    setEventSink(() => {
      throw new Error('sink down');
    });
    const { store, run } = await setupRun();
    const done = await store.updateRun(run.id, (r) => {
      r.status = 'completed';
    });
    expect(() => traceEnded(statusSnapshot(run), done)).not.toThrow();
    expect(named('workflow.run')).toHaveLength(1);
  });
});
