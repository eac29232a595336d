/**
 * Workflow runs end to end over real HTTP on the embedded local host with the offline model: every
 * pattern (sequential, fan-out/fan-in, group chat, DAG, review loop) with its run record, event log,
 * deltas and step outputs; token budgets; idempotent starts; validation (400 problem+json); listing
 * with filters and paging; the monitoring metrics. Approvals, cancel, version pinning and SSE
 * (heartbeats, Last-Event-ID resume) are in workflow-runs-approval.test.ts.
 */
import { createHash } from 'node:crypto';
import {
  bodyOf,
  expectWellFormedLog,
  problemOf,
  runsClient,
  startProjectHost,
  type ProjectHost,
  type RunEventView as RunEvent,
} from '../helpers/project-host';

/** Every offline model call takes at least this long, so agent steps have real durations. */
const LATENCY_MS = 10;

let project: ProjectHost;
let runs: ReturnType<typeof runsClient>;

beforeAll(async () => {
  project = await startProjectHost('workflow-runs', { OFFLINE_LATENCY_MS: String(LATENCY_MS) });
  runs = runsClient(project);
});

afterAll(async () => {
  await project?.stop();
});

const send = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
  project.send(method, route, body, headers);
const start = (body: Record<string, unknown>) => runs.start(body);
const runToEnd = (body: Record<string, unknown>) => runs.runToEnd(body);
const waitForRun = (id: string, until?: (run: any) => boolean) => runs.waitForRun(id, until);
const eventsOf = (id: string) => runs.eventsOf(id);
const outputOf = (id: string, stepId: string) => runs.outputOf(id, stepId);

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The text the deltas of one agent call add up to. */
const deltaText = (events: RunEvent[], call: string): string =>
  events
    .filter((e) => e.type === 'step.delta' && e.data.call === call)
    .map((e) => e.data.delta)
    .join('');

/** Agent calls in the order their first delta arrived. */
const callsOf = (events: RunEvent[], stepId: string): string[] => [
  ...new Set(events.filter((e) => e.type === 'step.delta' && e.stepId === stepId).map((e) => e.data.call)),
];

/** Totals are the sums over the steps; each step's total is prompt + completion. */
function expectTotalsAddUp(run: any): void {
  const steps: any[] = Object.values(run.steps);
  const sum = (k: 'prompt' | 'completion' | 'total') => steps.reduce((n, s) => n + (s.tokens?.[k] ?? 0), 0);
  expect(run.totals.tokens).toEqual({
    prompt: sum('prompt'),
    completion: sum('completion'),
    total: sum('total'),
  });
  for (const s of steps) if (s.tokens) expect(s.tokens.total).toBe(s.tokens.prompt + s.tokens.completion);
  expect(run.totals.cost).toEqual({ currency: 'USD', total: expect.any(Number) });
  expect(run.totals.durationMs).toBe(Date.parse(run.completedAt) - Date.parse(run.startedAt));
}

/** A completed step's output: the text its reference describes, served as text/plain. */
async function expectOutput(runId: string, stepId: string, step: any): Promise<string> {
  const text = await outputOf(runId, stepId);
  expect(Buffer.byteLength(text, 'utf8')).toBe(step.output.bytes);
  expect(sha256(text)).toBe(step.output.sha256);
  return text;
}

describe('workflow patterns end to end', () => {
  it('runs a sequential pipeline (agent-studio-pipeline) step after step', async () => {
    const res = await send('POST', '/api/v1/runs', {
      workflowId: 'agent-studio-pipeline',
      input: { topic: 'a REST API for todo items with auth' },
    });
    expect(res.status).toBe(202);
    const started = await bodyOf(res);
    expect(res.headers.get('location')).toBe(`/api/v1/runs/${started.id}`);
    expect(res.headers.get('etag')).toMatch(/^".+"$/);
    expect(started).toMatchObject({
      status: 'pending',
      workflowId: 'agent-studio-pipeline',
      workflowVersion: '1',
      created: true,
      links: { self: `/api/v1/runs/${started.id}`, events: `/api/v1/runs/${started.id}/events` },
      durable: { id: started.id, statusQueryGetUri: expect.stringContaining(started.id) },
    });

    // The durable status URL works: the orchestration behind the run is the run id.
    const durable = await bodyOf(fetch(started.durable.statusQueryGetUri));
    expect(durable).toMatchObject({ instanceId: started.id, name: 'workflow_run' });

    const run = await waitForRun(started.id);
    expect(run).toMatchObject({
      id: started.id,
      status: 'completed',
      input: { topic: 'a REST API for todo items with auth' },
      links: { self: `/api/v1/runs/${started.id}` },
    });
    expect(run.etag).toBeUndefined();
    expect(run.error).toBeUndefined();
    const order = ['design', 'implement', 'review', 'document'];
    expect(Object.keys(run.steps)).toEqual(order);
    expect(run.steps).toMatchObject({
      design: { kind: 'agent', agent: 'architect', status: 'completed', attempts: 1 },
      implement: { kind: 'agent', agent: 'builder', status: 'completed', attempts: 1 },
      review: { kind: 'review', agent: 'builder', status: 'completed' },
      document: { kind: 'agent', agent: 'scribe', status: 'completed', attempts: 1 },
    });
    // A builder and a validator call per iteration, 3 iterations at most.
    expect([2, 4, 6]).toContain(run.steps.review.attempts);
    for (const [i, id] of order.entries()) {
      const step = run.steps[id];
      expect(step.tokens.total).toBeGreaterThan(0);
      expect(step.durationMs).toBe(Date.parse(step.completedAt) - Date.parse(step.startedAt));
      expect(step.durationMs).toBeGreaterThanOrEqual(LATENCY_MS * (id === 'review' ? 2 : 1));
      if (i > 0) expect(step.startedAt >= run.steps[order[i - 1]!].completedAt).toBe(true);
    }
    expectTotalsAddUp(run);
    const stepTime = order.reduce((n, id) => n + run.steps[id].durationMs, 0);
    expect(run.totals.durationMs).toBeGreaterThanOrEqual(stepTime);

    const events = await eventsOf(run.id);
    expectWellFormedLog(events, 'run.completed');
    expect(events[0]!.data).toEqual({ workflowId: 'agent-studio-pipeline', version: '1' });
    expect(events.filter((e) => e.type === 'step.started').map((e) => e.stepId)).toEqual(order);
    expect(events.filter((e) => e.type === 'step.completed').map((e) => e.stepId)).toEqual(order);
    for (const id of order) {
      const done = events.find((e) => e.type === 'step.completed' && e.stepId === id)!;
      expect(done.data).toMatchObject({ tokens: run.steps[id].tokens, summary: run.steps[id].summary });
    }
    const iterations = run.steps.review.attempts / 2;
    expect(callsOf(events, 'review')).toEqual(
      Array.from({ length: iterations }, (_, i) => [
        `review/builder-${i + 1}`,
        `review/validator-${i + 1}`,
      ]).flat(),
    );

    // Each output is what its deltas streamed; the review's output is its last builder call's.
    for (const id of ['design', 'implement', 'document']) {
      expect(await expectOutput(run.id, id, run.steps[id])).toBe(deltaText(events, id));
    }
    expect(await expectOutput(run.id, 'review', run.steps.review)).toBe(
      deltaText(events, `review/builder-${iterations}`),
    );
    const etag = (await fetch(`${project.base}/api/v1/runs/${run.id}/steps/design/output`)).headers.get(
      'etag',
    );
    expect(etag).toBe(`"${run.steps.design.output.sha256}"`);
  });

  it('fans out over a list and fans in with an aggregate (parallel-analysis)', async () => {
    const aspects = ['security', 'cost', 'scalability'];
    const run = await runToEnd({ workflowId: 'parallel-analysis', input: { topic: 'a CDN cache', aspects } });
    expect(run.status).toBe('completed');
    expect(run.steps.analysis).toMatchObject({
      kind: 'parallel',
      agent: 'scribe',
      status: 'completed',
      attempts: aspects.length + 1,
    });
    expectTotalsAddUp(run);

    const events = await eventsOf(run.id);
    expectWellFormedLog(events, 'run.completed');
    const calls = callsOf(events, 'analysis');
    expect([...calls].sort()).toEqual([
      'analysis/aggregate',
      'analysis/item-1',
      'analysis/item-2',
      'analysis/item-3',
    ]);
    // Fan-in: the aggregate starts once every branch is done.
    expect(calls.at(-1)).toBe('analysis/aggregate');
    for (const [i, aspect] of aspects.entries()) {
      expect(deltaText(events, `analysis/item-${i + 1}`).toLowerCase()).toContain(aspect);
    }
    expect(await expectOutput(run.id, 'analysis', run.steps.analysis)).toBe(
      deltaText(events, 'analysis/aggregate'),
    );
  });

  it('runs a group chat to its termination (design-review-chat) and to maxRounds', async () => {
    const chat = await runToEnd({ workflowId: 'design-review-chat', input: { topic: 'a URL shortener' } });
    expect(chat.status).toBe('completed');
    expect(chat.steps.discussion).toMatchObject({ kind: 'groupChat', status: 'completed', attempts: 1 });
    expect(chat.steps.discussion.tokens.total).toBeGreaterThan(0);
    expectTotalsAddUp(chat);
    const events = await eventsOf(chat.id);
    expectWellFormedLog(events, 'run.completed');
    const turns = callsOf(events, 'discussion');
    expect(turns).toEqual(turns.map((_, i) => `discussion/turn-${i + 1}`));
    expect(turns.length).toBeGreaterThanOrEqual(3);
    expect(turns.length).toBeLessThanOrEqual(18);
    // Round robin: architect, builder, validator, …; the output is the last turn that is not a verdict.
    const speaker = (call: string) =>
      ['architect', 'builder', 'validator'][(Number(call.split('-')[1]) - 1) % 3];
    const lastWork = turns.filter((t) => speaker(t) !== 'validator').at(-1)!;
    expect(await expectOutput(chat.id, 'discussion', chat.steps.discussion)).toBe(
      deltaText(events, lastWork),
    );

    // No termination condition: maxRounds × participants turns, round robin.
    const rounds = await runToEnd({
      definition: {
        id: 'two-rounds',
        name: 'Two rounds',
        steps: [
          {
            id: 'talk',
            kind: 'group_chat',
            participants: ['echo', 'architect'],
            max_rounds: 2,
            prompt: 'Discuss {{ input.topic }}.',
          },
        ],
      },
      input: { topic: 'queues' },
    });
    expect(rounds).toMatchObject({
      status: 'completed',
      steps: { talk: { status: 'completed', attempts: 1 } },
    });
    const talk = await eventsOf(rounds.id);
    expect(callsOf(talk, 'talk')).toEqual(['talk/turn-1', 'talk/turn-2', 'talk/turn-3', 'talk/turn-4']);
    // The echo agent repeats its turn prompt, which names the speaker.
    expect(deltaText(talk, 'talk/turn-1')).toContain('You are echo in a group chat between echo, architect');
    expect(deltaText(talk, 'talk/turn-3')).toContain('(round 2, turn 3)');
    expect(await expectOutput(rounds.id, 'talk', rounds.steps.talk)).toBe(deltaText(talk, 'talk/turn-4'));
  });

  it('runs the independent steps of a DAG at the same time, skips by condition, and joins', async () => {
    const echo = (id: string, prompt: string, more: Record<string, unknown> = {}) => ({
      id,
      agent: 'echo',
      prompt,
      ...more,
    });
    const run = await runToEnd({
      definition: {
        id: 'dag-flow',
        name: 'DAG',
        steps: [
          echo('plan', 'plan for {{ input.city }}'),
          echo('left', 'left of {{ steps.plan.output }}', { dependsOn: ['plan'] }),
          echo('right', 'right of {{ steps.plan.output }}', { dependsOn: ['plan'] }),
          echo('middle', 'middle of {{ steps.plan.output }}', { dependsOn: ['plan'] }),
          {
            id: 'fan',
            kind: 'parallel',
            dependsOn: ['plan'],
            branches: [
              { id: 'north', agent: 'echo', prompt: 'N {{ input.city }}' },
              { id: 'south', agent: 'echo', prompt: 'S {{ input.city }}' },
            ],
            aggregate: { agent: 'echo', prompt: 'joined: {{ results | join(" + ") }}' },
          },
          echo('maybe', 'only when flagged', { dependsOn: ['plan'], when: '{{ input.flag }}' }),
          echo('after_maybe', 'after {{ steps.maybe.output }}', { dependsOn: ['maybe'] }),
          echo('join', '{{ steps.left.output }} | {{ steps.right.output }} | {{ steps.middle.output }}', {
            dependsOn: ['left', 'right', 'middle'],
          }),
        ],
      },
      input: { city: 'Oslo', flag: false },
    });
    expect(run.status).toBe('completed');
    const s = run.steps;
    const independent = ['left', 'right', 'middle', 'fan'];
    for (const id of independent) {
      expect(s[id].status).toBe('completed');
      // Scheduled together, as soon as their one dependency completed.
      expect(s[id].startedAt).toBe(s.left.startedAt);
      expect(s[id].startedAt >= s.plan.completedAt).toBe(true);
    }
    const lastOfThree = ['left', 'right', 'middle']
      .map((id) => s[id].completedAt)
      .sort()
      .at(-1);
    expect(s.join.startedAt >= lastOfThree).toBe(true);
    expect(s.maybe).toMatchObject({ status: 'skipped', attempts: 0 });
    expect(s.after_maybe).toMatchObject({ status: 'skipped', attempts: 0 });
    expect(s.maybe.tokens).toBeUndefined();
    expect(s.fan).toMatchObject({ kind: 'parallel', attempts: 3, agent: 'echo' });
    expectTotalsAddUp(run);

    expect(await expectOutput(run.id, 'join', s.join)).toBe(
      'left of plan for Oslo | right of plan for Oslo | middle of plan for Oslo',
    );
    expect(await expectOutput(run.id, 'fan', s.fan)).toBe('joined: N Oslo + S Oslo');
    const skipped = await fetch(`${project.base}/api/v1/runs/${run.id}/steps/maybe/output`);
    expect((await problemOf(skipped, 404)).code).toBe('RUN.OUTPUT_NOT_FOUND');
    const unknown = await fetch(`${project.base}/api/v1/runs/${run.id}/steps/nope/output`);
    expect((await problemOf(unknown, 404)).code).toBe('RUN.STEP_NOT_FOUND');

    const events = await eventsOf(run.id);
    expectWellFormedLog(events, 'run.completed');
    const firstEnd = events.find((e) => e.type === 'step.completed' && independent.includes(e.stepId!))!;
    for (const id of independent) {
      expect(events.find((e) => e.type === 'step.started' && e.stepId === id)!.id).toBeLessThan(firstEnd.id);
    }
    expect(events.find((e) => e.stepId === 'maybe')!.data).toEqual({ reason: 'its when condition is false' });
    expect(events.find((e) => e.stepId === 'after_maybe')!.data).toEqual({ reason: "'maybe' was skipped" });
    expect(callsOf(events, 'fan').at(-1)).toBe('fan/aggregate');
  });

  it('iterates a review loop until the validator passes the work, or maxIterations', async () => {
    const run = await runToEnd({
      definition: {
        id: 'review-flow',
        name: 'Review loop',
        steps: [
          {
            id: 'fixed',
            kind: 'review',
            builder: 'echo',
            validator: 'validator',
            maxIterations: 3,
            // The first draft has a broken JSON block (an error); the second does not.
            prompt:
              'Write a short guide to HTTP caching for web developers, with a clear structure and examples.' +
              '{% if iteration == 1 %}\n```json\n{broken\n```\n{% endif %}{% if feedback %}\nFeedback: {{ feedback }}{% endif %}',
          },
          {
            id: 'stubborn',
            kind: 'review',
            builder: 'echo',
            validator: 'validator',
            maxIterations: 2,
            prompt: 'Draft notes, iteration {{ iteration }}.\n```json\n{broken\n```',
          },
        ],
      },
    });
    // A loop that never passes still completes the step (with the last draft) and the run.
    expect(run.status).toBe('completed');
    expect(run.steps.fixed).toMatchObject({
      kind: 'review',
      agent: 'echo',
      status: 'completed',
      attempts: 4,
    });
    expect(run.steps.stubborn).toMatchObject({ status: 'completed', attempts: 4 });
    expectTotalsAddUp(run);

    const events = await eventsOf(run.id);
    expectWellFormedLog(events, 'run.completed');
    expect(callsOf(events, 'fixed')).toEqual([
      'fixed/builder-1',
      'fixed/validator-1',
      'fixed/builder-2',
      'fixed/validator-2',
    ]);
    const first = JSON.parse(deltaText(events, 'fixed/validator-1'));
    expect(first.pass).toBe(false);
    expect(first.issues[0].message).toMatch(/json code block is not valid JSON/);
    expect(JSON.parse(deltaText(events, 'fixed/validator-2')).pass).toBe(true);
    const fixed = await expectOutput(run.id, 'fixed', run.steps.fixed);
    expect(fixed).toBe(deltaText(events, 'fixed/builder-2'));
    expect(fixed).toContain('Feedback: - error: A json code block is not valid JSON');
    expect(await expectOutput(run.id, 'stubborn', run.steps.stubborn)).toBe(
      'Draft notes, iteration 2.\n```json\n{broken\n```',
    );
  });
});

describe('token budgets', () => {
  const chain = (budget?: Record<string, number>) => ({
    id: 'budget-flow',
    name: 'Budget',
    ...(budget && { budget }),
    steps: [
      { id: 'a', agent: 'echo', prompt: 'one' },
      { id: 'b', agent: 'echo', prompt: 'two', dependsOn: ['a'] },
      { id: 'c', agent: 'echo', prompt: 'three', dependsOn: ['b'] },
    ],
  });

  it("fails the run cleanly when the definition's budget is exceeded, keeping partial results", async () => {
    const run = await runToEnd({ definition: chain({ maxTokens: 40 }) });
    expect(run.steps.a.tokens.total).toBeLessThanOrEqual(40); // the budget holds after a, not after b
    expect(run).toMatchObject({
      status: 'failed',
      error: {
        code: 'RUN.BUDGET_EXCEEDED',
        message: expect.stringContaining('over its budget of 40 tokens'),
      },
      steps: {
        a: { status: 'completed', attempts: 1 },
        b: { status: 'completed', attempts: 1 },
        c: { status: 'skipped', attempts: 0 },
      },
    });
    expect(run.totals.tokens.total).toBe(run.steps.a.tokens.total + run.steps.b.tokens.total);
    expect(run.totals.tokens.total).toBeGreaterThan(40);
    expectTotalsAddUp(run);
    expect(await expectOutput(run.id, 'a', run.steps.a)).toBe('one');
    expect(await expectOutput(run.id, 'b', run.steps.b)).toBe('two');

    const events = await eventsOf(run.id);
    expectWellFormedLog(events, 'run.failed');
    expect(events.slice(-3).map((e) => [e.type, e.stepId])).toEqual([
      ['budget.exceeded', 'b'],
      ['step.skipped', 'c'],
      ['run.failed', undefined],
    ]);
    expect(events.at(-3)!.data).toEqual({ maxTokens: 40, tokens: run.totals.tokens.total, costUsd: 0 });
    expect(events.at(-1)!.data.error.code).toBe('RUN.BUDGET_EXCEEDED');
  });

  it("applies the caller's lower budget; steps already running finish and keep their results", async () => {
    const run = await runToEnd({
      definition: {
        ...chain({ maxTokens: 100_000 }),
        steps: [
          { id: 'x', agent: 'echo', prompt: 'left branch' },
          { id: 'y', agent: 'echo', prompt: 'right branch' },
          { id: 'z', agent: 'echo', prompt: 'after both', dependsOn: ['x', 'y'] },
        ],
      },
      budget: { maxTokens: 10 },
    });
    expect(run).toMatchObject({
      status: 'failed',
      error: { code: 'RUN.BUDGET_EXCEEDED' },
      steps: { x: { status: 'completed' }, y: { status: 'completed' }, z: { status: 'skipped' } },
    });
    expect(await outputOf(run.id, 'x')).toBe('left branch');
    expect(await outputOf(run.id, 'y')).toBe('right branch');
    const events = await eventsOf(run.id);
    expectWellFormedLog(events, 'run.failed');
    expect(events.filter((e) => e.type === 'budget.exceeded')).toHaveLength(1);
    expect(events.find((e) => e.type === 'budget.exceeded')!.data.maxTokens).toBe(10);
  });
});

describe('idempotent starts', () => {
  const body = (key?: string, tenantId?: string) => ({
    definition: { id: 'idem-flow', name: 'Idempotent', steps: [{ id: 'a', agent: 'echo', prompt: 'once' }] },
    ...(key && { idempotencyKey: key }),
    ...(tenantId && { tenantId }),
  });

  it('makes one run of two concurrent starts with the same key: one 202, one 200', async () => {
    const [r1, r2] = await Promise.all([
      send('POST', '/api/v1/runs', body('key-concurrent')),
      send('POST', '/api/v1/runs', body('key-concurrent')),
    ]);
    expect([r1.status, r2.status].sort()).toEqual([200, 202]);
    const [a, b] = [await bodyOf(r1), await bodyOf(r2)];
    expect(a.id).toBe(b.id);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(r1.headers.get('location')).toBe(r2.headers.get('location'));

    const run = await waitForRun(a.id);
    expect(run).toMatchObject({ status: 'completed', idempotencyKey: 'key-concurrent' });
    // One orchestration: one run.started, one a.
    const events = await eventsOf(a.id);
    expectWellFormedLog(events, 'run.completed');
    expect(events.filter((e) => e.type === 'step.started')).toHaveLength(1);

    // Later repeats answer the same (now finished) run.
    const again = await send('POST', '/api/v1/runs', body('key-concurrent'));
    expect(again.status).toBe(200);
    expect(await bodyOf(again)).toMatchObject({ id: a.id, created: false, status: 'completed' });
  });

  it('takes the key from the Idempotency-Key header (or idempotency_key), per tenant', async () => {
    const first = await send('POST', '/api/v1/runs', body(), { 'idempotency-key': 'key-header' });
    expect(first.status).toBe(202);
    const { id } = await bodyOf(first);
    const second = await send('POST', '/api/v1/runs', body(), { 'idempotency-key': 'key-header' });
    expect(second.status).toBe(200);
    expect((await bodyOf(second)).id).toBe(id);
    const snake = await send('POST', '/api/v1/runs', { ...body(), idempotency_key: 'key-header' });
    expect(snake.status).toBe(200);
    expect((await bodyOf(snake)).id).toBe(id);

    const other = await send('POST', '/api/v1/runs', body('key-header', 'tenant-b'));
    expect(other.status).toBe(202);
    const otherId = (await bodyOf(other)).id;
    expect(otherId).not.toBe(id);
    const list = await bodyOf(fetch(`${project.base}/api/v1/runs?tenantId=tenant-b`));
    expect(list.items.map((r: any) => r.id)).toEqual([otherId]);
    await Promise.all([waitForRun(id), waitForRun(otherId)]);
  });
});

describe('validation: 400 problem+json, nothing started', () => {
  const inline = (steps: unknown[], extra: Record<string, unknown> = {}) => ({
    definition: { id: 'bad-flow', name: 'Bad', steps, ...extra },
  });

  it('rejects malformed start requests, listing every violation', async () => {
    expect((await problemOf(await send('POST', '/api/v1/runs', '{"workflowId":'), 400)).code).toBe(
      'REQUEST.MALFORMED_JSON',
    );
    for (const b of ['[]', '"agent-studio-pipeline"', '']) {
      const p = await problemOf(await send('POST', '/api/v1/runs', b), 400);
      expect(p).toMatchObject({
        code: 'REQUEST.INVALID',
        violations: [{ path: '', message: 'must be a JSON object' }],
      });
    }
    const neither = await problemOf(await send('POST', '/api/v1/runs', { input: {} }), 400);
    expect(neither).toMatchObject({ code: 'REQUEST.INVALID', violations: [{ path: 'workflowId' }] });
    const both = await problemOf(
      await send('POST', '/api/v1/runs', { workflowId: 'parallel-analysis', ...inline([]) }),
      400,
    );
    expect(both.violations).toEqual([
      { path: 'workflowId', message: expect.stringMatching(/either workflowId/) },
    ]);

    const many = await problemOf(
      await send('POST', '/api/v1/runs', {
        workflow_id: 7,
        idempotencyKey: '',
        budget: { maxTokens: -1, maxSteps: 3 },
        colour: 'blue',
      }),
      400,
    );
    expect(many.code).toBe('REQUEST.INVALID');
    const paths = many.violations.map((v: any) => v.path);
    expect(paths).toEqual(
      expect.arrayContaining(['workflow_id', 'idempotencyKey', 'budget.maxTokens', 'budget', '']),
    );
    expect(many.violations.find((v: any) => v.path === '').message).toMatch(/colour/);
    expect(many.violations.find((v: any) => v.path === 'budget').message).toMatch(/maxSteps/);
  });

  it("checks the run input against the workflow's input schema (RUN.INVALID_INPUT)", async () => {
    const missing = await problemOf(
      await send('POST', '/api/v1/runs', { workflowId: 'parallel-analysis' }),
      400,
    );
    expect(missing.code).toBe('RUN.INVALID_INPUT');
    expect(missing.violations.map((v: any) => v.path).sort()).toEqual(['input.aspects', 'input.topic']);

    const wrong = await problemOf(
      await send('POST', '/api/v1/runs', {
        workflowId: 'parallel-analysis',
        input: { topic: '', aspects: ['cost', 3] },
      }),
      400,
    );
    expect(wrong.code).toBe('RUN.INVALID_INPUT');
    expect(wrong.violations.map((v: any) => v.path).sort()).toEqual(['input.aspects.1', 'input.topic']);
    const notObject = await problemOf(
      await send('POST', '/api/v1/runs', { workflowId: 'agent-studio-pipeline', input: 'a topic' }),
      400,
    );
    expect(notObject).toMatchObject({ code: 'RUN.INVALID_INPUT', violations: [{ path: 'input' }] });

    // Inline definitions are checked against their own input schema too.
    const own = await problemOf(
      await send('POST', '/api/v1/runs', {
        ...inline([{ id: 'a', agent: 'echo', prompt: '{{ input.n }}' }], {
          input: { type: 'object', properties: { n: { type: 'integer', minimum: 1 } }, required: ['n'] },
        }),
        input: { n: 0 },
      }),
      400,
    );
    expect(own).toMatchObject({ code: 'RUN.INVALID_INPUT', violations: [{ path: 'input.n' }] });
  });

  it('rejects an invalid inline definition (WORKFLOW.INVALID_DEFINITION) listing every violation', async () => {
    const p = await problemOf(
      await send(
        'POST',
        '/api/v1/runs',
        inline([
          { id: 'a', agent: 'nobody', prompt: 'Hi {{ steps.b.output }}' },
          { id: 'b', agent: 'echo', prompt: 'x', dependsOn: ['a', 'ghost'] },
          { id: 'c', kind: 'approval', prompt: 'ok?' },
          { id: 'd', kind: 'teleport' },
        ]),
      ),
      400,
    );
    expect(p.code).toBe('WORKFLOW.INVALID_DEFINITION');
    const paths = p.violations.map((v: any) => v.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'steps[0].agent',
        'steps[1].dependsOn[1]',
        'steps[2].timeout',
        'steps[3].kind',
      ]),
    );
    expect(p.violations.find((v: any) => v.path === 'steps[0].agent').message).toMatch(/nobody/);
    expect(p.detail).toMatch(/^The workflow definition is not valid/);

    const cycle = await problemOf(
      await send(
        'POST',
        '/api/v1/runs',
        inline([
          { id: 'a', agent: 'echo', prompt: 'x', dependsOn: ['b'] },
          { id: 'b', agent: 'echo', prompt: 'y', dependsOn: ['a'] },
        ]),
      ),
      400,
    );
    expect(cycle.code).toBe('WORKFLOW.INVALID_DEFINITION');
    expect(JSON.stringify(cycle.violations)).toMatch(/cycle/i);

    const shape = await problemOf(await send('POST', '/api/v1/runs', { definition: { name: 'No id' } }), 400);
    expect(shape.code).toBe('WORKFLOW.INVALID_DEFINITION');
    expect(shape.violations.map((v: any) => v.path)).toEqual(expect.arrayContaining(['id', 'steps']));
  });

  it('answers 404 for an unknown workflow and 400 for bad list and event queries', async () => {
    const unknown = await problemOf(await send('POST', '/api/v1/runs', { workflowId: 'no-such-flow' }), 404);
    expect(unknown.code).toBe('WORKFLOW.NOT_FOUND');
    const builtInVersion = await send('POST', '/api/v1/runs', {
      workflowId: 'design-review-chat',
      version: '2',
      input: { topic: 'x' },
    });
    expect((await problemOf(builtInVersion, 404)).code).toBe('WORKFLOW.NOT_FOUND');

    const list = await problemOf(
      await fetch(`${project.base}/api/v1/runs?status=done&limit=0&createdFrom=yesterday&createdTo=soon`),
      400,
    );
    expect(list.violations.map((v: any) => v.path).sort()).toEqual([
      'createdFrom',
      'createdTo',
      'limit',
      'status',
    ]);
    expect((await problemOf(await fetch(`${project.base}/api/v1/runs?limit=501`), 400)).violations).toEqual([
      { path: 'limit', message: 'must be an integer from 1 to 500' },
    ]);

    const run = await runToEnd({
      definition: { id: 'tiny', name: 'Tiny', steps: [{ id: 'a', agent: 'echo', prompt: 'x' }] },
    });
    const badResume = await fetch(`${project.base}/api/v1/runs/${run.id}/events`, {
      headers: { 'last-event-id': 'three' },
    });
    expect((await problemOf(badResume, 400)).violations).toEqual([
      { path: 'Last-Event-ID', message: 'must be a non-negative integer event id' },
    ]);
    expect((await fetch(`${project.base}/api/v1/runs/${run.id}/events?lastEventId=-1`)).status).toBe(400);
  });

  it('creates no run for a rejected start', async () => {
    const before = await bodyOf(fetch(`${project.base}/api/v1/runs?workflowId=bad-flow`));
    await send('POST', '/api/v1/runs', inline([{ id: 'a', agent: 'nobody', prompt: 'x' }]));
    await send('POST', '/api/v1/runs', {
      ...inline([{ id: 'a', agent: 'echo', prompt: 'x' }], {
        input: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
      }),
      input: {},
    });
    const after = await bodyOf(fetch(`${project.base}/api/v1/runs?workflowId=bad-flow`));
    expect(before.items).toEqual([]);
    expect(after.items).toEqual([]);
  });

  it('answers 404 RUN.NOT_FOUND for an unknown run on every runs route', async () => {
    const id = 'no-such-run';
    const answers = await Promise.all([
      send('GET', `/api/v1/runs/${id}`),
      send('GET', `/api/v1/runs/${id}/events`),
      send('GET', `/api/v1/runs/${id}/steps/a/output`),
      send('POST', `/api/v1/runs/${id}/approval`, { approved: true }),
      send('POST', `/api/v1/runs/${id}/cancel`),
    ]);
    for (const res of answers) expect((await problemOf(res, 404)).code).toBe('RUN.NOT_FOUND');
  });
});

describe('listing runs', () => {
  const tenantId = 'paging-tenant';
  const ids: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 5; i++) {
      ids.push(
        await start({
          definition: {
            id: 'paging-flow',
            name: 'Paging',
            steps: [{ id: 'a', agent: 'echo', prompt: `run ${i}` }],
          },
          tenantId,
        }),
      );
      await new Promise((r) => setTimeout(r, 3)); // distinct creation times
    }
    await Promise.all(ids.map((id) => waitForRun(id)));
  });

  const list = async (query: string): Promise<any> => {
    const res = await fetch(`${project.base}/api/v1/runs?${query}`);
    expect(res.status).toBe(200);
    return bodyOf(res);
  };

  it('pages newest first with continuation tokens, without duplicates or gaps', async () => {
    const seen: any[] = [];
    let token: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await list(
        `tenantId=${tenantId}&limit=2${token ? `&continuationToken=${encodeURIComponent(token)}` : ''}`,
      );
      sizes.push(page.items.length);
      seen.push(...page.items);
      token = page.continuationToken;
    } while (token);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen.map((r) => r.id)).toEqual([...ids].reverse());
    for (const r of seen) {
      expect(r).toMatchObject({
        tenantId,
        workflowId: 'paging-flow',
        status: 'completed',
        links: { self: `/api/v1/runs/${r.id}` },
      });
      expect(r.etag).toBeUndefined();
    }
  });

  it('filters by status, workflowId, tenantId and creation time', async () => {
    expect((await list(`tenantId=${tenantId}&status=completed`)).items).toHaveLength(5);
    expect((await list(`tenantId=${tenantId}&status=failed`)).items).toEqual([]);
    expect((await list(`tenantId=${tenantId}&workflowId=other`)).items).toEqual([]);
    const all = (await list(`workflowId=paging-flow`)).items;
    expect(all.map((r: any) => r.id)).toEqual([...ids].reverse());
    const third = all[2];
    const from = (await list(`tenantId=${tenantId}&createdFrom=${third.createdAt}`)).items;
    expect(from.map((r: any) => r.id)).toEqual([ids[4], ids[3], ids[2]]); // inclusive
    const to = (await list(`tenantId=${tenantId}&createdTo=${third.createdAt}`)).items;
    expect(to.map((r: any) => r.id)).toEqual([ids[1], ids[0]]); // exclusive
    expect((await list(`tenantId=nobody`)).items).toEqual([]);
  });
});

describe('GET /api/v1/monitoring/metrics', () => {
  it('reports runs, steps, tokens and latencies consistent with the runs made', async () => {
    const definition = {
      id: 'metrics-flow',
      name: 'Metrics',
      steps: [
        { id: 'a', agent: 'echo', prompt: 'alpha' },
        { id: 'b', agent: 'echo', prompt: 'beta', dependsOn: ['a'] },
      ],
    };
    const runs = await Promise.all([
      runToEnd({ definition }),
      runToEnd({ definition, input: { n: 2 } }),
      runToEnd({ definition, budget: { maxTokens: 1 } }),
    ]);
    expect(runs.map((r) => r.status).sort()).toEqual(['completed', 'completed', 'failed']);

    const res = await fetch(`${project.base}/api/v1/monitoring/metrics?workflowId=metrics-flow`);
    expect(res.status).toBe(200);
    const m = await bodyOf(res);
    const stepsDone = runs
      .flatMap((r): any[] => Object.values(r.steps))
      .filter((s) => s.status === 'completed');
    const sum = (k: 'prompt' | 'completion' | 'total') => runs.reduce((n, r) => n + r.totals.tokens[k], 0);
    const tokens = { prompt: sum('prompt'), completion: sum('completion'), total: sum('total') };
    expect(m.window).toMatchObject({ runs: 3, truncated: false });
    expect(Date.parse(m.window.to) - Date.parse(m.window.from)).toBe(24 * 3600_000);
    expect(m.runs.byStatus).toEqual({ completed: 2, failed: 1 });
    expect(m.runs.successRate).toBeCloseTo(2 / 3);
    const durations = runs.map((r) => r.totals.durationMs).sort((x, y) => x - y);
    expect(m.runs.latencyMs).toEqual({ count: 3, p50: durations[1], p95: durations[2], p99: durations[2] });
    expect(m.steps.byStatus).toEqual({ completed: 5, skipped: 1 });
    expect(m.steps.latencyMsByAgent.echo.count).toBe(5);
    expect(m.steps.latencyMsByAgent.echo.p50).toBeGreaterThanOrEqual(LATENCY_MS);
    expect(m.tokens).toEqual(tokens);
    expect(m.costUsd).toBe(0);
    expect(m.byAgent).toEqual({ echo: { tokens, costUsd: 0, steps: 5 } });
    expect(m.byWorkflow).toEqual({ 'metrics-flow': { tokens, costUsd: 0, steps: 5, runs: 3 } });
    expect(stepsDone).toHaveLength(5);

    // Every workflow over the default window includes these; an empty window has nothing.
    const everything = await bodyOf(fetch(`${project.base}/api/v1/monitoring/metrics`));
    expect(everything.byWorkflow['metrics-flow'].runs).toBe(3);
    expect(everything.window.runs).toBeGreaterThanOrEqual(3);
    const empty = await bodyOf(
      fetch(`${project.base}/api/v1/monitoring/metrics?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z`),
    );
    expect(empty).toMatchObject({
      window: { runs: 0 },
      runs: { byStatus: {}, successRate: null },
      costUsd: 0,
    });

    const bad = await problemOf(await fetch(`${project.base}/api/v1/monitoring/metrics?from=later`), 400);
    expect(bad.violations).toEqual([{ path: 'from', message: 'must be an ISO 8601 date-time' }]);
    const reversed = await fetch(
      `${project.base}/api/v1/monitoring/metrics?from=2001-01-01T00:00:00Z&to=2000-01-01T00:00:00Z`,
    );
    expect((await problemOf(reversed, 400)).violations[0].path).toBe('from');
  });
});
