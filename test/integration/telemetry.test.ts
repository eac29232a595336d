/**
 * Application Insights telemetry end to end, asserted on the envelopes the real SDK (applicationinsights
 * 3.16) sends: the compiled app runs on the local host in a child process (the SDK instruments modules
 * as they load, which jest's module registry would bypass) with its connection string pointing at a
 * local HTTPS ingestion fake. Runs go through the runs API; the host is then stopped (SIGTERM), and its
 * appTerminate hook flushes what the SDK buffers.
 *
 * Checked: the HTTP request that starts a run shares its operation id with every span of the run
 * (`workflow.run`, `workflow.step`, `agent.run`, `llm.generation`) and with its custom event; the GenAI
 * and our attributes; the token, cost, step duration and failure metrics; RunCompleted and RunFailed;
 * prompts and outputs only with TELEMETRY_RECORD_CONTENT; and no connection to any non-loopback address
 * (a preloaded guard records every socket and DNS lookup the process attempts elsewhere).
 *
 * Needs a build (`npm test` makes it; alone: `npm run build` first).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { DIST, freePort, ROOT, spawnHost, waitForHttp, type ChildHost } from '../helpers/child-host';
import {
  metricPoints,
  ofType,
  spansNamed,
  startIngestionFake,
  type Envelope,
  type IngestionFake,
} from '../helpers/ingestion-fake';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const STREAM_TRACE = '0af7651916cd43dd8448eb211c80319c';

/** Records (and refuses) every connection or lookup to anything but loopback. Plain JS: it is preloaded. */
const GUARD = `
const net = require('node:net');
const dns = require('node:dns');
const fs = require('node:fs');
const log = process.env.NET_GUARD_LOG;
const loopback = (h) => h == null || h === '' || h === 'localhost' || /^127\\./.test(h) || h === '::1' || h === '::ffff:127.0.0.1';
const record = (what) => fs.appendFileSync(log, what + '\\n');
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let o = Array.isArray(args[0]) ? args[0][0] : args[0];
  let host;
  if (o && typeof o === 'object') { if (o.path) return connect.apply(this, args); host = o.host; }
  else if (typeof o === 'number' || /^\\d+$/.test(String(o))) host = typeof args[1] === 'string' ? args[1] : undefined;
  else return connect.apply(this, args);
  if (!loopback(host)) {
    record('connect ' + host);
    process.nextTick(() => this.destroy(new Error('non-loopback connection refused by the test guard')));
    return this;
  }
  return connect.apply(this, args);
};
for (const target of [dns, dns.promises]) {
  const lookup = target.lookup;
  target.lookup = function (host, ...rest) {
    if (!loopback(host)) record('lookup ' + host);
    return lookup.call(this, host, ...rest);
  };
}
`;

let fake: IngestionFake;
let tmp: string;
/** The network guard's log of each host, by role. */
const guardLogs = new Map<string, string>();

beforeAll(async () => {
  fake = await startIngestionFake();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'telemetry-'));
  fs.writeFileSync(path.join(tmp, 'guard.js'), GUARD);
});

afterAll(async () => {
  await fake?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The project's compiled app on a child host; `role` names it in the envelopes (ai.cloud.role). */
async function startApp(
  role: string,
  settings: Record<string, string>,
  args: string[] = [],
): Promise<ChildHost> {
  const dir = path.join(tmp, role);
  const appDir = path.join(dir, 'app');
  fs.mkdirSync(appDir, { recursive: true });
  const main = path.join(DIST, 'functions', 'index.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  fs.writeFileSync(path.join(appDir, 'package.json'), JSON.stringify({ name: role, private: true, main }));
  fs.copyFileSync(path.join(ROOT, 'host.json'), path.join(appDir, 'host.json'));
  fs.copyFileSync(
    path.join(ROOT, 'servicebus-emulator.config.json'),
    path.join(appDir, 'servicebus-emulator.config.json'),
  );
  const guardLog = path.join(dir, 'net-guard.log');
  fs.writeFileSync(guardLog, '');
  guardLogs.set(role, guardLog);
  const host = await spawnHost(
    appDir,
    path.join(dir, 'data'),
    {
      APPLICATIONINSIGHTS_CONNECTION_STRING: fake.connectionString,
      NODE_EXTRA_CA_CERTS: fake.caFile,
      // Every trace kept (the default samples 5 per second); no statsbeat, no disk retry cache, no
      // Live Metrics; a Functions site, so the SDK does not probe the VM metadata address.
      OTEL_TRACES_SAMPLER: 'always_on',
      APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
      APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
      APPLICATIONINSIGHTS_CONFIGURATION_CONTENT: JSON.stringify({
        azureMonitorExporterOptions: { disableOfflineStorage: true },
        enableLiveMetrics: false,
      }),
      WEBSITE_SITE_NAME: role,
      FUNCTIONS_VERSION: '4',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(tmp, 'guard.js')}`.trim(),
      NET_GUARD_LOG: guardLog,
      LLM_PROVIDER: 'offline',
      OFFLINE_LATENCY_MS: '0',
      OFFLINE_TOKEN_DELAY_MS: '0',
      LLM_PRICES: JSON.stringify({ 'offline-1': { input: 1, output: 2 } }),
      CATALOG_SQLITE_PATH: path.join(dir, 'db', 'catalog.sqlite'),
      RUN_SQLITE_PATH: path.join(dir, 'db', 'runs.sqlite'),
      ...settings,
    },
    args,
  );
  try {
    await waitForHttp(`${host.baseUrl}/api/health`);
  } catch (err) {
    await host.stop('SIGKILL');
    throw new Error(`${String(err)}\n${host.output()}`);
  }
  return host;
}

async function startRun(
  host: ChildHost,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await fetch(`${host.baseUrl}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { id: string };
  if (res.status !== 202) throw new Error(`start answered ${res.status}: ${JSON.stringify(json)}`);
  return json.id;
}

async function finished(host: ChildHost, id: string): Promise<any> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const run = (await (await fetch(`${host.baseUrl}/api/v1/runs/${id}`)).json()) as { status: string };
    if (['completed', 'failed', 'cancelled'].includes(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${id} stuck: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Stops the host gracefully (its appTerminate hook flushes the SDK) and checks it exited cleanly. */
async function stop(host: ChildHost): Promise<void> {
  const exit = await host.stop('SIGTERM');
  if (exit.code !== 0) throw new Error(`host exited with ${JSON.stringify(exit)}\n${host.output()}`);
}

const fromRole = (role: string): Envelope[] => fake.envelopes.filter((e) => e.tags['ai.cloud.role'] === role);
const props = (e: Envelope): Record<string, string> => e.data.baseData.properties ?? {};
const ofRun = (envelopes: Envelope[], runId: string): Envelope[] =>
  envelopes.filter((e) => props(e)['run.id'] === runId);
const CONTENT_KEYS = ['gen_ai.input.messages', 'gen_ai.output.messages'];

describe('Application Insights telemetry of workflow runs (content recorded)', () => {
  const role = 'telemetry-content';
  let failedRun: string;
  let completedRun: string;
  let all: Envelope[];

  beforeAll(async () => {
    // The first model call fails (no retries): the first run fails; the second one completes.
    const host = await startApp(role, {
      TELEMETRY_RECORD_CONTENT: 'true',
      OFFLINE_FAULTS: '500',
      LLM_MAX_RETRIES: '0',
    });
    try {
      failedRun = await startRun(host, {
        definition: {
          id: 'telemetry-fails',
          name: 'Telemetry fails',
          version: '1',
          steps: [{ id: 'only', kind: 'agent', agent: 'echo', prompt: 'This call fails.' }],
        },
      });
      expect((await finished(host, failedRun)).status).toBe('failed');
      completedRun = await startRun(
        host,
        { workflowId: 'agent-studio-pipeline', input: { topic: 'a telemetry probe' }, tenantId: 'tenant-7' },
        { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01` },
      );
      expect((await finished(host, completedRun)).status).toBe('completed');
    } finally {
      await stop(host);
    }
    all = fromRole(role);
  });

  it('reaches no address but loopback', () => expectLoopbackOnly(role));

  it('shares one operation id between the starting request and every span and event of the run', () => {
    const request = ofType(all, 'RequestData').find(
      (e) => e.tags['ai.operation.parentId'] === CLIENT_SPAN && e.data.baseData.url?.endsWith('/api/v1/runs'),
    );
    expect(request).toBeDefined();
    expect(request!.tags['ai.operation.id']).toBe(TRACE_ID);
    expect(request!.data.baseData).toMatchObject({ responseCode: '202', success: true });
    const requestId = request!.data.baseData.id as string;

    const run = ofRun(all, completedRun);
    const names = (n: string) => run.filter((e) => e.data.baseData.name === n);
    expect(names('workflow.run')).toHaveLength(1);
    expect(
      names('workflow.step')
        .map((e) => props(e)['step.id'])
        .sort(),
    ).toEqual(['design', 'document', 'implement', 'review'].sort());
    expect(names('agent.run').length).toBeGreaterThanOrEqual(5);
    expect(names('llm.generation')).toHaveLength(names('agent.run').length);
    for (const e of run) expect(e.tags['ai.operation.id']).toBe(TRACE_ID);
    // The run, its steps and its agent calls are children of the request; model calls of agent calls.
    for (const e of [...names('workflow.run'), ...names('workflow.step'), ...names('agent.run')]) {
      expect(e.tags['ai.operation.parentId']).toBe(requestId);
    }
    const agentIds = new Set(names('agent.run').map((e) => e.data.baseData.id));
    for (const e of names('llm.generation')) expect(agentIds.has(e.tags['ai.operation.parentId'])).toBe(true);
    const event = ofType(all, 'EventData').find((e) => props(e)['run.id'] === completedRun)!;
    expect(event.tags['ai.operation.id']).toBe(TRACE_ID);
    expect(event.tags['ai.operation.parentId']).toBe(names('workflow.run')[0]!.data.baseData.id);
  });

  it('labels agent and model spans with the GenAI conventions and the run ids', () => {
    const run = ofRun(all, completedRun);
    const design = spansNamed(run, 'llm.generation').find((e) => props(e)['step.id'] === 'design')!;
    expect(design.data.baseData).toMatchObject({ type: 'Dependency', success: true });
    expect(props(design)).toMatchObject({
      'gen_ai.system': 'offline',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'offline-1',
      'gen_ai.response.model': 'offline-1',
      'gen_ai.response.finish_reasons': '["stop"]',
      'run.id': completedRun,
      'step.id': 'design',
      'step.call': 'design',
      'workflow.id': 'agent-studio-pipeline',
      'tenant.id': 'tenant-7',
    });
    expect(Number(props(design)['gen_ai.usage.input_tokens'])).toBeGreaterThan(0);
    expect(Number(props(design)['gen_ai.usage.output_tokens'])).toBeGreaterThan(0);

    const agent = spansNamed(run, 'agent.run').find((e) => props(e)['step.call'] === 'review/validator-1')!;
    expect(agent.data.baseData).toMatchObject({ type: 'InProc', success: true });
    expect(props(agent)).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.id': 'validator',
      'agent.type': 'validator',
      'gen_ai.system': 'offline',
      'gen_ai.request.model': 'offline-1',
      'step.id': 'review',
      'tenant.id': 'tenant-7',
    });
    expect(Number(props(agent)['cost.usd'])).toBeGreaterThan(0);

    const step = spansNamed(run, 'workflow.step').find((e) => props(e)['step.id'] === 'review')!;
    expect(props(step)).toMatchObject({
      'step.kind': 'review',
      'step.status': 'completed',
      'tenant.id': 'tenant-7',
    });
    const flow = spansNamed(run, 'workflow.run')[0]!;
    expect(props(flow)).toMatchObject({ 'run.status': 'completed', 'workflow.id': 'agent-studio-pipeline' });
    expect(Number(props(flow)['tokens.total'])).toBeGreaterThan(0);
  });

  it('records prompts and outputs when TELEMETRY_RECORD_CONTENT is on', () => {
    const design = spansNamed(ofRun(all, completedRun), 'llm.generation').find(
      (e) => props(e)['step.id'] === 'design',
    )!;
    const input = JSON.parse(props(design)['gen_ai.input.messages']!);
    expect(input.at(-1)).toEqual({
      role: 'user',
      parts: [{ type: 'text', content: 'Design a telemetry probe.' }],
    });
    const output = JSON.parse(props(design)['gen_ai.output.messages']!);
    expect(output[0]).toMatchObject({ role: 'assistant', finish_reason: 'stop' });
    expect(output[0].parts[0].content.length).toBeGreaterThan(20);
  });

  it('sends RunCompleted and RunFailed with the run id, workflow, duration, tokens and cost', () => {
    const events = ofType(all, 'EventData');
    const completed = events.find((e) => props(e)['run.id'] === completedRun)!;
    expect(completed.data.baseData.name).toBe('RunCompleted');
    expect(props(completed)).toMatchObject({
      'workflow.id': 'agent-studio-pipeline',
      'run.status': 'completed',
    });
    const m = completed.data.baseData.measurements;
    expect(m['duration.ms']).toBeGreaterThan(0);
    expect(m['tokens.total']).toBe(m['gen_ai.usage.input_tokens'] + m['gen_ai.usage.output_tokens']);
    expect(m['cost.usd']).toBeGreaterThan(0);

    const failed = events.find((e) => props(e)['run.id'] === failedRun)!;
    expect(failed.data.baseData.name).toBe('RunFailed');
    expect(props(failed)).toMatchObject({ 'workflow.id': 'telemetry-fails', 'run.status': 'failed' });
    expect(props(failed)['error.code']).toEqual(expect.any(String));
    expect(events.filter((e) => ['RunCompleted', 'RunFailed'].includes(e.data.baseData.name))).toHaveLength(
      2,
    );
  });

  it('marks the failed model call, agent call, step and run as failed', () => {
    const run = ofRun(all, failedRun);
    for (const name of ['llm.generation', 'agent.run', 'workflow.step', 'workflow.run']) {
      const [span] = spansNamed(run, name);
      expect({ name, success: span?.data.baseData.success }).toEqual({ name, success: false });
    }
    for (const name of ['llm.generation', 'agent.run']) {
      expect(props(spansNamed(run, name)[0]!)['error.code']).toBe('LLM.SERVER_ERROR');
    }
    expect(props(spansNamed(run, 'workflow.step')[0]!)['error.code']).toEqual(expect.any(String));
    expect(props(spansNamed(run, 'workflow.run')[0]!)['error.code']).toEqual(expect.any(String));
    // The exception of the failed call: an `exceptions` row in the same operation.
    const exception = ofType(all, 'ExceptionData').find(
      (e) => e.tags['ai.operation.parentId'] === spansNamed(run, 'llm.generation')[0]!.data.baseData.id,
    );
    expect(exception?.data.baseData.exceptions[0].message).toMatch(/injected fault 500/);
  });

  it('exports token, cost, step duration and failure metrics', () => {
    const points = metricPoints(all);
    const tokens = points.filter((p) => p.name === 'agent.tokens');
    expect(tokens.find((p) => p.properties['gen_ai.token.type'] === 'input' && p.value > 0)).toBeDefined();
    expect(tokens.find((p) => p.properties['gen_ai.token.type'] === 'output' && p.value > 0)).toBeDefined();
    expect(tokens[0]!.properties).toMatchObject({ 'gen_ai.response.model': 'offline-1' });
    expect(new Set(tokens.map((p) => p.properties['agent.type']))).toEqual(
      new Set(['architect', 'builder', 'validator', 'scribe']),
    );
    const cost = points.filter((p) => p.name === 'agent.cost');
    expect(cost.reduce((n, p) => n + p.value, 0)).toBeGreaterThan(0);
    const durations = points.filter((p) => p.name === 'workflow.step.duration');
    expect(durations.map((p) => p.properties['workflow.id'])).toContain('agent-studio-pipeline');
    expect(durations.every((p) => typeof p.count === 'number')).toBe(true);
    const failures = points.filter((p) => p.name === 'workflow.failures');
    expect(failures.map((p) => p.properties['failure.scope']).sort()).toEqual(['run', 'step']);
    for (const f of failures) expect(f.properties['workflow.id']).toBe('telemetry-fails');
  });
});

describe('Application Insights telemetry without content recording', () => {
  const role = 'telemetry-no-content';
  let runId: string;
  let all: Envelope[];

  beforeAll(async () => {
    const host = await startApp(role, {});
    try {
      runId = await startRun(host, {
        definition: {
          id: 'telemetry-echo',
          name: 'Telemetry echo',
          version: '1',
          steps: [{ id: 'echo', kind: 'agent', agent: 'echo', prompt: 'a secret prompt' }],
        },
      });
      expect((await finished(host, runId)).status).toBe('completed');
      // A single agent call streamed over HTTP (the library's stream proxy), in a trace of the client's.
      const res = await fetch(`${host.baseUrl}/api/agents/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: `00-${STREAM_TRACE}-${CLIENT_SPAN}-01` },
        body: JSON.stringify({ agent_type: 'Echo', prompt: 'stream a secret prompt' }),
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('event: result');
    } finally {
      await stop(host);
    }
    all = fromRole(role);
  });

  it('traces a streamed agent call over HTTP under its request, with one request span', () => {
    const trace = all.filter((e) => e.tags['ai.operation.id'] === STREAM_TRACE);
    const requests = ofType(trace, 'RequestData');
    expect(requests).toHaveLength(1);
    expect(requests[0]!.tags['ai.operation.parentId']).toBe(CLIENT_SPAN);
    const [agent] = spansNamed(trace, 'agent.run');
    const [llm] = spansNamed(trace, 'llm.generation');
    expect(agent?.tags['ai.operation.parentId']).toBe(requests[0]!.data.baseData.id);
    expect(llm?.tags['ai.operation.parentId']).toBe(agent!.data.baseData.id);
    expect(props(agent!)).toMatchObject({ 'gen_ai.agent.id': 'echo', 'agent.type': 'echo' });
    expect(props(agent!)['run.id']).toBeUndefined();
  });

  it('reaches no address but loopback', () => expectLoopbackOnly(role));

  it('sends the spans, without prompts or outputs', () => {
    const run = ofRun(all, runId);
    expect(spansNamed(run, 'agent.run')).toHaveLength(1);
    expect(spansNamed(run, 'llm.generation')).toHaveLength(1);
    expect(ofType(all, 'EventData').map((e) => e.data.baseData.name)).toEqual(['RunCompleted']);
    for (const e of all) {
      for (const key of CONTENT_KEYS) expect(props(e)[key]).toBeUndefined();
      expect(JSON.stringify(e)).not.toContain('a secret prompt');
    }
  });
});

/** No socket or lookup to anything but loopback; nothing but track calls reached the fake. */
function expectLoopbackOnly(role: string): void {
  expect(fs.readFileSync(guardLogs.get(role)!, 'utf8')).toBe('');
  expect(fake.otherRequests).toEqual([]);
}

describe('Application Insights telemetry of a run started by a Service Bus job', () => {
  const role = 'telemetry-jobs';
  const JOB_TRACE = '0af7651916cd43dd8448eb211c80319c';
  let all: Envelope[];

  beforeAll(async () => {
    const amqpPort = await freePort();
    const host = await startApp(role, {}, ['--amqp-port', String(amqpPort)]);
    const client = new ServiceBusClient(
      `Endpoint=sb://127.0.0.1:${amqpPort};SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`,
      { retryOptions: { maxRetries: 1, timeoutInMs: 5000 } },
    );
    try {
      const sender = client.createSender('agent-jobs');
      await sender.sendMessages({
        body: { jobId: 'telemetry-job-1', agentType: 'echo', input: { prompt: 'traced from a queue' } },
        applicationProperties: { 'Diagnostic-Id': `00-${JOB_TRACE}-b7ad6b7169203331-01` },
      });
      await sender.close();
      const deadline = Date.now() + 15_000;
      for (;;) {
        const res = await fetch(`${host.baseUrl}/api/v1/runs/telemetry-job-1`);
        if (res.status === 200 && (await finished(host, 'telemetry-job-1'))) break;
        if (Date.now() > deadline) throw new Error(`the job's run did not start\n${host.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await client.close();
      await stop(host);
    }
    all = fromRole(role);
  });

  it("joins the sender's trace: the run's spans and events carry the message's operation id", () => {
    const run = ofRun(all, 'telemetry-job-1');
    expect(run.filter((e) => e.data.baseData.name === 'workflow.run')).toHaveLength(1);
    expect(run.filter((e) => e.data.baseData.name === 'agent.run')).toHaveLength(1);
    for (const e of run) expect(e.tags['ai.operation.id']).toBe(JOB_TRACE);
  });

  it('reaches no address but loopback', () => expectLoopbackOnly(role));
});
