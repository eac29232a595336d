import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  agentActivityName,
  runWorkflow,
  type AgentActivityInput,
  type WorkflowOutcome,
} from '../../src/workflows/engine';
import type { WorkflowDefinition } from '../../src/workflows/definition';
import { findBuiltInWorkflow } from '../../src/workflows/templates';
import { validateWorkflow } from '../../src/workflows/validate';
import {
  after,
  agentResult,
  FakeWorkflowContext,
  outputRef,
  withRecord,
  type Handler,
} from '../fixtures/fake-workflow-context';
import { agentStep, workflow } from '../fixtures/workflows/builders';

const designAndDocument = (onTimeout?: string): WorkflowDefinition => {
  const raw = JSON.parse(
    readFileSync(join(__dirname, '../fixtures/workflows/design-and-document.json'), 'utf8'),
  ) as { steps: Record<string, unknown>[] };
  if (onTimeout) raw.steps[1]!.onTimeout = onTimeout;
  return validateWorkflow(raw);
};

/** Every agent answers with its call name (`design`, `analysis/item-2`). */
const echoAgents = (...agents: string[]): Record<string, Handler> =>
  withRecord(
    Object.fromEntries(
      agents.map((a) => [`agent_${a}`, (input: AgentActivityInput) => agentResult(input.call)]),
    ),
  );

function run(
  def: WorkflowDefinition,
  script: Record<string, Handler>,
  input: unknown = { topic: 'a cache' },
  prepare?: (fake: FakeWorkflowContext) => void,
  budget?: { maxTokens?: number; maxCostUsd?: number },
): { fake: FakeWorkflowContext; outcome: WorkflowOutcome } {
  const fake = new FakeWorkflowContext(script);
  prepare?.(fake);
  const outcome = fake.run(
    runWorkflow(fake, { runId: 'run-1', definition: def, input, ...(budget && { budget }) }),
  );
  return { fake, outcome };
}

const flow = (steps: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
  validateWorkflow(workflow(steps, extra));

describe('agentActivityName', () => {
  it('names the activity of each built-in agent and agent_custom for the others', () => {
    expect(agentActivityName('architect')).toBe('agent_architect');
    expect(agentActivityName('Scribe')).toBe('agent_scribe');
    expect(agentActivityName('validator')).toBe('agent_validator');
    expect(agentActivityName('echo')).toBe('agent_echo');
    expect(agentActivityName('builder')).toBe('agent_builder');
    expect(agentActivityName('my-reviewer')).toBe('agent_custom');
  });
});

describe('runWorkflow: design-and-document (sequential chain with an approval)', () => {
  it('runs docs after an approval, with the design output as a stored reference', () => {
    const { fake, outcome } = run(designAndDocument(), echoAgents('architect', 'scribe'), undefined, (f) =>
      f.raise('approval:gate', { approved: true, by: 'ana', comment: 'ship it' }, 60_000),
    );
    expect(outcome.status).toBe('completed');
    expect(outcome.error).toBeUndefined();
    expect(Object.values(outcome.steps).map((s) => s.status)).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
    expect(outcome.steps.gate).toMatchObject({
      approved: true,
      by: 'ana',
      comment: 'ship it',
      summary: 'approved',
    });

    const [design, docs] = fake.agentCalls();
    expect(design!.name).toBe('agent_architect');
    expect(design!.input).toEqual({
      runId: 'run-1',
      stepId: 'design',
      call: 'design',
      agent: 'architect',
      prompt: 'Design {{ input.topic }}',
      vars: { input: { topic: 'a cache' }, steps: {} },
      attempt: 1,
    });
    expect(docs!.name).toBe('agent_scribe');
    expect(docs!.at).toBe(60_000);
    expect(docs!.input.vars.steps).toEqual({
      design: { output: { $text: [outputRef('design')] } },
      gate: { output: 'approved', approved: true, comment: 'ship it', by: 'ana' },
    });
    expect(fake.timers).toHaveLength(1);
    expect(fake.timers[0]!.fireAt.toISOString()).toBe('2026-01-01T00:10:00.000Z');
    expect(fake.timers[0]!.canceled).toBe(true);

    const events = fake.recordedEvents();
    expect(events.map((e) => `${e.type}${e.stepId ? ` ${e.stepId}` : ''}`)).toEqual([
      'run.started',
      'step.started design',
      'step.completed design',
      'step.started gate',
      'approval.requested gate',
      'approval.resolved gate',
      'step.completed gate',
      'step.started docs',
      'step.completed docs',
      'run.completed',
    ]);
    expect(events.find((e) => e.type === 'approval.requested')!.data).toEqual({
      prompt: 'Ship it?',
      // The recorder renders the prompt with these (stored texts by reference).
      vars: { input: { topic: 'a cache' }, steps: { design: { output: { $text: [outputRef('design')] } } } },
      expiresAt: '2026-01-01T00:10:00.000Z',
      onTimeout: 'reject',
    });
    const runStatuses = fake.records().flatMap((r) => (r.run?.status ? [r.run.status] : []));
    expect(runStatuses).toEqual(['running', 'waiting_for_approval', 'running', 'completed']);
    expect(fake.statuses).toContainEqual({
      status: 'waiting_for_approval',
      steps: { design: 'completed', gate: 'waiting_for_approval', docs: 'pending' },
    });
  });

  it('skips docs when the approval is rejected, and the run completes', () => {
    const { fake, outcome } = run(designAndDocument(), echoAgents('architect'), undefined, (f) =>
      f.raise('approval:gate', { approved: false, comment: 'no' }),
    );
    expect(outcome.status).toBe('completed');
    expect(outcome.steps.gate).toMatchObject({ status: 'completed', approved: false, summary: 'rejected' });
    expect(outcome.steps.docs).toMatchObject({ status: 'skipped', reason: "approval 'gate' was rejected" });
    expect(fake.agentCalls().map((c) => c.name)).toEqual(['agent_architect']);
    expect(fake.recordedEvents().find((e) => e.type === 'step.skipped')).toEqual({
      type: 'step.skipped',
      stepId: 'docs',
      data: { reason: "approval 'gate' was rejected" },
    });
  });

  it.each([
    ['reject', 'completed', 'skipped'],
    ['approve', 'completed', 'completed'],
    ['fail', 'failed', 'skipped'],
  ])('on timeout with onTimeout %s: the run is %s and docs %s', (onTimeout, runStatus, docsStatus) => {
    const { fake, outcome } = run(designAndDocument(onTimeout), echoAgents('architect', 'scribe'));
    expect(fake.clock).toBe(600_000);
    expect(outcome.status).toBe(runStatus);
    expect(outcome.steps.docs!.status).toBe(docsStatus);
    expect(fake.timers[0]!.canceled).toBe(false);
    const resolved = fake.recordedEvents().find((e) => e.type === 'approval.resolved');
    expect(resolved!.data).toMatchObject({ approved: onTimeout === 'approve', timedOut: true });
    if (onTimeout === 'fail') {
      expect(outcome.steps.gate).toMatchObject({ status: 'failed', error: { code: 'APPROVAL.TIMEOUT' } });
      expect(outcome.error).toEqual({
        code: 'APPROVAL.TIMEOUT',
        message: "Step 'gate' failed: Approval 'gate' got no decision within PT10M",
      });
      expect(fake.records().at(-1)!.run).toEqual({
        status: 'failed',
        error: outcome.error,
        at: expect.any(String),
      });
    }
  });

  it('is cancelled by the workflow:cancel event while it waits for an approval', () => {
    const { fake, outcome } = run(designAndDocument(), echoAgents('architect'), undefined, (f) =>
      f.raise('workflow:cancel', { reason: 'changed my mind' }, 1000),
    );
    expect(outcome.status).toBe('cancelled');
    expect(outcome.error).toEqual({
      code: 'RUN.CANCELLED',
      message: 'The run was cancelled: changed my mind',
    });
    expect(outcome.steps.gate!.status).toBe('cancelled');
    expect(outcome.steps.docs).toMatchObject({ status: 'skipped', reason: 'the run was cancelled' });
    expect(fake.timers[0]!.canceled).toBe(true);
    expect(fake.recordedEvents().at(-1)!.type).toBe('run.cancelled');
  });
});

describe('runWorkflow: scheduling', () => {
  const slow: Record<string, Handler> = withRecord({
    agent_echo: (input: AgentActivityInput) => after(100, agentResult(input.call)),
  });

  it('starts independent steps together and a join step after both', () => {
    const def = flow([
      agentStep('a', 'A'),
      agentStep('b', 'B'),
      agentStep('c', '{{ steps.a.output }} {{ steps.b.output }}', { dependsOn: ['a', 'b'] }),
    ]);
    const { fake, outcome } = run(def, slow);
    expect(outcome.status).toBe('completed');
    const agentLines = fake.trace.filter((l) => l.includes('agent_'));
    expect(agentLines).toEqual([
      'call agent_echo a',
      'call agent_echo b',
      'done agent_echo a',
      'done agent_echo b',
      'call agent_echo c',
      'done agent_echo c',
    ]);
    expect(fake.clock).toBe(200);
    expect(
      fake
        .recordedEvents()
        .slice(0, 3)
        .map((e) => e.type),
    ).toEqual(['run.started', 'step.started', 'step.started']);
  });

  it('skips a step whose when is false, and its dependents', () => {
    const def = flow([
      agentStep('a', 'A'),
      agentStep('b', 'B', { dependsOn: ['a'], when: '{{ input.flag }}' }),
      agentStep('c', 'C', { dependsOn: ['b'] }),
      agentStep('d', 'D', { dependsOn: ['a'], when: 'not input.flag' }),
    ]);
    const off = run(def, echoAgents('echo'), { flag: false });
    expect(off.outcome.status).toBe('completed');
    expect(off.outcome.steps.b).toMatchObject({ status: 'skipped', reason: 'its when condition is false' });
    expect(off.outcome.steps.c).toMatchObject({ status: 'skipped', reason: "'b' was skipped" });
    expect(off.outcome.steps.d!.status).toBe('completed');
    expect(off.fake.agentCalls().map((c) => c.input.call)).toEqual(['a', 'd']);

    const on = run(def, echoAgents('echo'), { flag: true });
    expect(on.fake.agentCalls().map((c) => c.input.call)).toEqual(['a', 'b', 'c']);
    expect(on.outcome.steps.d!.status).toBe('skipped');
  });

  it('fails the run when a step fails: running steps finish, no new step starts', () => {
    const def = flow([
      agentStep('a', 'A'),
      agentStep('b', 'B', { agent: 'scribe' }),
      agentStep('c', 'C', { dependsOn: ['b'] }),
      agentStep('d', 'D', { dependsOn: ['a'] }),
    ]);
    const script = withRecord({
      agent_echo: () => {
        throw new Error('model unavailable');
      },
      agent_scribe: (input: AgentActivityInput) => after(50, agentResult(input.call)),
    });
    const { fake, outcome } = run(def, script);
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toEqual({ code: 'STEP.FAILED', message: "Step 'a' failed: model unavailable" });
    expect(outcome.steps.a).toMatchObject({ status: 'failed', error: { code: 'STEP.FAILED' } });
    expect(outcome.steps.b).toMatchObject({ status: 'completed', summary: 'b' });
    expect(outcome.steps.c).toMatchObject({ status: 'skipped', reason: 'the run stopped' });
    expect(outcome.steps.d).toMatchObject({ status: 'skipped', reason: 'the run stopped' });
    expect(fake.agentCalls().map((c) => c.input.call)).toEqual(['a', 'b']);
    expect(fake.recordedEvents().at(-1)).toEqual({ type: 'run.failed', data: { error: outcome.error } });
  });

  it('passes the retry policy through and fails a step that times out', () => {
    let attempts = 0;
    const def = flow([
      agentStep('a', 'A', { retry: { maxAttempts: 3, firstInterval: 'PT2S', backoffCoefficient: 2 } }),
      agentStep('b', 'B', { dependsOn: ['a'], timeout: 'PT30S', agent: 'scribe' }),
    ]);
    const script = withRecord({
      agent_echo: (input: AgentActivityInput) => {
        attempts += 1;
        if (attempts < 3) throw new Error('flaky');
        return agentResult(input.call);
      },
      agent_scribe: () => after(60_000, agentResult('late')),
    });
    const { fake, outcome } = run(def, script);
    const calls = fake.agentCalls().filter((c) => c.input.call === 'a');
    expect(calls.map((c) => [c.attempt, c.at])).toEqual([
      [1, 0],
      [2, 2000],
      [3, 6000],
    ]);
    expect(calls[0]!.retry).toEqual({ firstIntervalMs: 2000, maxAttempts: 3, backoffCoefficient: 2 });
    expect(outcome.steps.a!.status).toBe('completed');
    expect(outcome.steps.b).toMatchObject({
      status: 'failed',
      error: { code: 'STEP.TIMEOUT', message: "Step 'b' did not finish within PT30S" },
    });
    expect(outcome.status).toBe('failed');
    expect(fake.clock).toBe(36_000);
  });

  it('cancels the timeout timer when the call finishes in time', () => {
    const def = flow([agentStep('a', 'A', { timeout: 'PT30S' })]);
    const { fake, outcome } = run(def, echoAgents('echo'));
    expect(outcome.status).toBe('completed');
    expect(fake.timers.map((t) => t.canceled)).toEqual([true]);
  });

  it('fails with RUN.BUDGET_EXCEEDED once the budget is used up, keeping the completed results', () => {
    const def = flow(
      [
        agentStep('a', 'A'),
        agentStep('b', 'B', { dependsOn: ['a'] }),
        agentStep('c', 'C', { dependsOn: ['b'] }),
      ],
      { budget: { maxTokens: 15 } },
    );
    const { fake, outcome } = run(def, echoAgents('echo'));
    expect(outcome.status).toBe('failed');
    expect(outcome.error!.code).toBe('RUN.BUDGET_EXCEEDED');
    expect(outcome.error!.message).toBe('The run used 20 tokens and 0.002 USD, over its budget of 15 tokens');
    expect(outcome.steps.a).toMatchObject({ status: 'completed', summary: 'a' });
    expect(outcome.steps.b).toMatchObject({ status: 'completed', summary: 'b' });
    expect(outcome.steps.c!.status).toBe('skipped');
    expect(outcome.totals).toEqual({ tokens: { prompt: 10, completion: 10, total: 20 }, cost: 0.002 });
    expect(fake.recordedEvents().find((e) => e.type === 'budget.exceeded')).toEqual({
      type: 'budget.exceeded',
      stepId: 'b',
      data: { maxTokens: 15, tokens: 20, costUsd: 0.002 },
    });

    const cost = run(
      flow([agentStep('a', 'A'), agentStep('b', 'B', { dependsOn: ['a'] })]),
      echoAgents('echo'),
      {},
      undefined,
      {
        maxCostUsd: 0.0005,
      },
    );
    expect(cost.outcome.error!.message).toBe(
      'The run used 10 tokens and 0.001 USD, over its budget of 0.0005 USD',
    );
    expect(cost.outcome.steps.b!.status).toBe('skipped');
  });

  it('batches what happens at one point into one record call, events in order', () => {
    const def = flow([agentStep('a', 'A'), agentStep('b', 'B', { dependsOn: ['a'] })]);
    const { fake } = run(def, echoAgents('echo'));
    const records = fake.records();
    expect(records.map((r) => r.batch)).toEqual(records.map((_, i) => i + 1));
    expect(records[0]).toEqual({
      runId: 'run-1',
      batch: 1,
      events: [
        { type: 'run.started', data: { workflowId: 'test-flow', version: '1' } },
        { type: 'step.started', stepId: 'a', data: { kind: 'agent' } },
      ],
      run: { status: 'running', at: '2026-01-01T00:00:00.000Z' },
      steps: {
        a: { kind: 'agent', agent: 'echo', status: 'running', startedAt: '2026-01-01T00:00:00.000Z' },
      },
    });
    expect(records[1]!.events.map((e) => e.type)).toEqual(['step.completed', 'step.started']);
    expect(records[1]!.steps!.a).toMatchObject({
      status: 'completed',
      attempts: 1,
      output: outputRef('a'),
      summary: 'a',
      tokens: { prompt: 5, completion: 5, total: 10 },
      cost: { currency: 'USD', total: 0.001 },
    });
    expect(records.at(-1)!.events.map((e) => e.type)).toEqual(['step.completed', 'run.completed']);
    expect(records.at(-1)!.run).toEqual({ status: 'completed', at: '2026-01-01T00:00:00.000Z' });
    expect(fake.statuses.at(-1)).toEqual({ status: 'completed', steps: { a: 'completed', b: 'completed' } });
  });

  it('the fake refuses an activity its script does not know', () => {
    expect(() => run(flow([agentStep('a', 'A')]), withRecord({}))).toThrow(
      "the script has no activity 'agent_echo'",
    );
  });
});

describe('runWorkflow: built-in templates end to end', () => {
  const verdict = (pass: boolean) => ({
    score: pass ? 90 : 40,
    pass,
    issues: pass ? [] : [{ severity: 'error', message: 'no tests' }],
  });
  const pipelineScript = (): Record<string, Handler> => {
    let reviews = 0;
    return withRecord({
      agent_architect: (i: AgentActivityInput) => after(50, agentResult(i.call)),
      agent_builder: (i: AgentActivityInput) => after(50, agentResult(i.call)),
      agent_validator: (i: AgentActivityInput) =>
        after(50, agentResult(i.call, { parsed: verdict(++reviews > 1) })),
      agent_scribe: (i: AgentActivityInput) => after(50, agentResult(i.call)),
    });
  };

  it('agent-studio-pipeline: design, implement, review until it passes, document', () => {
    const { fake, outcome } = run(findBuiltInWorkflow('agent-studio-pipeline')!, pipelineScript());
    expect(outcome.status).toBe('completed');
    expect(fake.agentCalls().map((c) => c.input.call)).toEqual([
      'design',
      'implement',
      'review/builder-1',
      'review/validator-1',
      'review/builder-2',
      'review/validator-2',
      'document',
    ]);
    expect(outcome.steps.review).toMatchObject({
      approved: true,
      iterations: 2,
      summary: 'review/builder-2',
    });
    expect(fake.agentCalls().at(-1)!.input.vars.steps.review).toEqual({
      output: { $text: [outputRef('review/builder-2')] },
      verdict: verdict(true),
      approved: true,
      iterations: 2,
    });
    expect(outcome.totals.tokens.total).toBe(70);
    expect(fake.clock).toBe(350);
  });

  it('design-review-chat: the group chat runs as a sub-orchestration', () => {
    const script = withRecord({
      workflow_group_chat: (input: { stepId: string }) => ({
        outputRef: outputRef('final'),
        summary: 'APPROVED',
        transcript: [{ speaker: 'architect', outputRef: outputRef('m1'), summary: 'proposal' }],
        rounds: 2,
        tokens: { prompt: 30, completion: 20, total: 50 },
        cost: { total: 0.01 },
        stepId: input.stepId,
      }),
    });
    const { fake, outcome } = run(findBuiltInWorkflow('design-review-chat')!, script);
    expect(outcome.status).toBe('completed');
    const [chat] = fake.calls.filter((c) => c.kind === 'subOrchestrator');
    expect(chat!.instanceId).toBe('run-1:discussion');
    expect(chat!.input).toMatchObject({
      runId: 'run-1',
      stepId: 'discussion',
      participants: ['architect', 'builder', 'validator'],
      manager: 'round-robin',
      maxRounds: 6,
      terminate: { keyword: 'APPROVED', validatorApproves: true },
      vars: { input: { topic: 'a cache' }, steps: {} },
    });
    expect(outcome.steps.discussion).toMatchObject({ rounds: 2, summary: 'APPROVED', cost: 0.01 });
    expect(outcome.totals.tokens.total).toBe(50);
  });

  it('parallel-analysis: one architect per aspect, then the scribe combines them', () => {
    const { fake, outcome } = run(
      findBuiltInWorkflow('parallel-analysis')!,
      echoAgents('architect', 'scribe'),
      {
        topic: 'a cache',
        aspects: ['security', 'cost'],
      },
    );
    expect(outcome.status).toBe('completed');
    expect(fake.agentCalls().map((c) => `${c.name} ${c.input.call}`)).toEqual([
      'agent_architect analysis/item-1',
      'agent_architect analysis/item-2',
      'agent_scribe analysis/aggregate',
    ]);
    expect(outcome.steps.analysis).toMatchObject({ calls: 3, summary: 'analysis/aggregate' });
  });

  it('is deterministic: the same workflow and script make the same calls', () => {
    const once = () => {
      const { fake, outcome } = run(findBuiltInWorkflow('agent-studio-pipeline')!, pipelineScript());
      return JSON.stringify({ calls: fake.calls, trace: fake.trace, statuses: fake.statuses, outcome });
    };
    expect(once()).toBe(once());
  });
});
