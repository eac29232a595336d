/**
 * Workflow runs that wait and stop, over real HTTP on the embedded local host with the offline model:
 * approvals (approve, reject, timeout with each onTimeout, one decision per approval), cancel, a run
 * pinned to its workflow version while a new one is stored, and the run event stream (SSE framing,
 * heartbeats, Last-Event-ID resume without gap or duplicate).
 */
import {
  bodyOf,
  expectWellFormedLog,
  isFinished,
  problemOf,
  readSse,
  runsClient,
  startProjectHost,
  type ProjectHost,
  type RunEventView as RunEvent,
  type SseRead,
} from '../helpers/project-host';

const LATENCY_MS = 30;
const HEARTBEAT_MS = 40;

let project: ProjectHost;
let runs: ReturnType<typeof runsClient>;

beforeAll(async () => {
  project = await startProjectHost('workflow-runs-approval', {
    OFFLINE_LATENCY_MS: String(LATENCY_MS),
    RUN_SSE_HEARTBEAT_MS: String(HEARTBEAT_MS),
  });
  runs = runsClient(project);
});

afterAll(async () => {
  await project?.stop();
});

const send = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
  project.send(method, route, body, headers);
const start = (definition: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  runs.start({ definition, ...extra });
const waitForRun = (id: string, until?: (run: any) => boolean) => runs.waitForRun(id, until);
const eventsOf = (id: string) => runs.eventsOf(id);
const waiting = (run: any): boolean => run.status === 'waiting_for_approval';
const decide = (id: string, body: unknown) => send('POST', `/api/v1/runs/${id}/approval`, body);
const eventsUrl = (id: string, query = ''): string => `${project.base}/api/v1/runs/${id}/events${query}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const typesOf = (events: RunEvent[], stepId?: string): string[] =>
  events.filter((e) => stepId === undefined || e.stepId === stepId).map((e) => e.type);

const echo = (id: string, prompt: string, dependsOn: string[] = []) => ({
  id,
  agent: 'echo',
  prompt,
  dependsOn,
});
const gate = (id: string, dependsOn: string[] = [], more: Record<string, unknown> = {}) => ({
  id,
  kind: 'approval',
  prompt: 'Publish the draft?',
  timeout: 'PT30S',
  dependsOn,
  ...more,
});

/** draft → gate → publish */
const gated = (more: Record<string, unknown> = {}) => ({
  id: 'gated-flow',
  name: 'Gated',
  steps: [echo('draft', 'the draft'), gate('gate', ['draft'], more), echo('publish', 'published', ['gate'])],
});

/** `n` echo steps in a chain: a run that keeps going for n × LATENCY_MS at least. */
const chain = (n: number) => ({
  id: 'chain-flow',
  name: 'Chain',
  steps: Array.from({ length: n }, (_, i) => echo(`s${i + 1}`, `step ${i + 1}`, i ? [`s${i}`] : [])),
});

describe('approvals', () => {
  it('waits for a decision, then an approval lets the run go on', async () => {
    const id = await start(gated());
    const paused = await waitForRun(id, waiting);
    expect(paused.steps).toMatchObject({
      draft: { status: 'completed' },
      gate: { kind: 'approval', status: 'waiting_for_approval', attempts: 0 },
      publish: { status: 'pending' },
    });
    const requested = (await eventsOf(id)).at(-1)!;
    expect(requested).toMatchObject({
      type: 'approval.requested',
      stepId: 'gate',
      data: { prompt: 'Publish the draft?', onTimeout: 'reject' },
    });
    // Expires after the step's timeout, counted from the moment the step started.
    expect(Date.parse(requested.data.expiresAt) - Date.parse(paused.steps.gate.startedAt)).toBe(30_000);

    const res = await decide(id, { approved: true, comment: 'ship it', by: 'ana' });
    expect(res.status).toBe(202);
    expect(await bodyOf(res)).toEqual({ runId: id, stepId: 'gate', approved: true });
    const run = await waitForRun(id);
    expect(run).toMatchObject({
      status: 'completed',
      steps: {
        gate: { status: 'completed', summary: 'approved', attempts: 0, tokens: { total: 0 } },
        publish: { status: 'completed', attempts: 1 },
      },
    });
    const events = await eventsOf(id);
    expect(typesOf(events, 'gate')).toEqual([
      'step.started',
      'approval.requested',
      'approval.resolved',
      'step.completed',
    ]);
    expect(events.find((e) => e.type === 'approval.resolved')!.data).toEqual({
      approved: true,
      comment: 'ship it',
      by: 'ana',
      timedOut: false,
    });
    expect(events.at(-1)!.type).toBe('run.completed');
  });

  it('renders the approval prompt it asks the approver', async () => {
    const id = await start(
      {
        ...gated({ prompt: 'Publish "{{ input.title }}"?' }),
        input: { type: 'object', properties: { title: { type: 'string' } } },
      },
      { input: { title: 'Caching guide' } },
    );
    await waitForRun(id, waiting);
    expect((await eventsOf(id)).at(-1)!.data.prompt).toBe('Publish "Caching guide"?');
    expect((await send('POST', `/api/v1/runs/${id}/cancel`)).status).toBe(202);
  });

  it('skips what depends on a rejected approval; the run still completes', async () => {
    const id = await start(gated());
    await waitForRun(id, waiting);
    expect((await decide(id, { approved: false, comment: 'not yet' })).status).toBe(202);
    const run = await waitForRun(id);
    expect(run).toMatchObject({
      status: 'completed',
      steps: { gate: { status: 'completed', summary: 'rejected' }, publish: { status: 'skipped' } },
    });
    expect(run.error).toBeUndefined();
    const events = await eventsOf(id);
    expect(events.find((e) => e.type === 'approval.resolved')!.data).toEqual({
      approved: false,
      comment: 'not yet',
      timedOut: false,
    });
    expect(events.find((e) => e.stepId === 'publish')).toMatchObject({
      type: 'step.skipped',
      data: { reason: "approval 'gate' was rejected" },
    });
  });

  it('takes one decision per approval: a second one is 409 APPROVAL.ALREADY_DECIDED', async () => {
    const id = await start({
      id: 'two-gates',
      name: 'Two gates',
      steps: [gate('first'), gate('second', ['first']), echo('done', 'done', ['second'])],
    });
    await waitForRun(id, waiting);
    expect((await decide(id, { approved: true, stepId: 'first' })).status).toBe(202);
    const again = await problemOf(await decide(id, { approved: false, stepId: 'first' }), 409);
    expect(again.code).toBe('APPROVAL.ALREADY_DECIDED');

    // Two decisions at once: exactly one wins.
    await waitForRun(id, (r) => r.steps.second.status === 'waiting_for_approval');
    const both = await Promise.all([
      decide(id, { approved: true, stepId: 'second' }),
      decide(id, { approved: false, stepId: 'second' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([202, 409]);
    const loser = both.find((r) => r.status === 409)!;
    expect((await problemOf(loser, 409)).code).toBe('APPROVAL.ALREADY_DECIDED');
    const winner = await bodyOf(both.find((r) => r.status === 202)!);

    const run = await waitForRun(id);
    expect(run.steps.done.status).toBe(winner.approved ? 'completed' : 'skipped');
    const resolved = (await eventsOf(id)).filter((e) => e.type === 'approval.resolved');
    expect(resolved.map((e) => [e.stepId, e.data.approved])).toEqual([
      ['first', true],
      ['second', winner.approved],
    ]);
    const late = await problemOf(await decide(id, { approved: true, stepId: 'second' }), 409);
    expect(late.code).toBe('RUN.NOT_ACTIVE');
  });

  it('answers 409 when the run or step is not waiting, and 400 for a bad or ambiguous decision', async () => {
    const busy = await start(chain(8));
    const notWaiting = await problemOf(await decide(busy, { approved: true }), 409);
    expect(notWaiting).toMatchObject({
      code: 'APPROVAL.NOT_PENDING',
      detail: expect.stringMatching(/not waiting/),
    });

    const id = await start({
      id: 'twin-gates',
      name: 'Twin gates',
      steps: [echo('a', 'a'), gate('left', ['a']), gate('right', ['a'])],
    });
    await waitForRun(
      id,
      (r) =>
        r.steps.left.status === 'waiting_for_approval' && r.steps.right.status === 'waiting_for_approval',
    );
    const ambiguous = await problemOf(await decide(id, { approved: true }), 400);
    expect(ambiguous.violations).toEqual([
      { path: 'stepId', message: 'several approvals are waiting (left, right): name one' },
    ]);
    expect((await problemOf(await decide(id, { approved: true, stepId: 'a' }), 409)).code).toBe(
      'APPROVAL.NOT_PENDING',
    );
    expect((await problemOf(await decide(id, { approved: true, stepId: 'nope' }), 409)).code).toBe(
      'APPROVAL.NOT_PENDING',
    );
    const bad = await problemOf(await decide(id, { approved: 'yes', by: 7, extra: true }), 400);
    expect(bad.code).toBe('REQUEST.INVALID');
    expect(bad.violations.map((v: any) => v.path).sort()).toEqual(['', 'approved', 'by']);
    expect((await problemOf(await decide(id, {}), 400)).violations[0].path).toBe('approved');
    expect((await problemOf(await send('POST', `/api/v1/runs/${id}/approval`, '{'), 400)).code).toBe(
      'REQUEST.MALFORMED_JSON',
    );

    expect((await decide(id, { approved: true, step_id: 'left' })).status).toBe(202);
    expect((await decide(id, { approved: true, stepId: 'right' })).status).toBe(202);
    expect((await waitForRun(id)).status).toBe('completed');
    expect((await problemOf(await decide(id, { approved: true }), 409)).code).toBe('RUN.NOT_ACTIVE');
    expect((await waitForRun(busy)).status).toBe('completed');
  });

  it('applies onTimeout when nobody decides: reject, approve or fail', async () => {
    const timed = (onTimeout?: string) => gated({ timeout: 'PT1S', ...(onTimeout && { onTimeout }) });
    const [rejectId, approveId, failId] = await Promise.all([
      start(timed()),
      start(timed('approve')),
      start(timed('fail')),
    ]);
    const [rejected, approved, failed] = await Promise.all(
      [rejectId, approveId, failId].map((id) => waitForRun(id)),
    );

    expect(rejected).toMatchObject({
      status: 'completed',
      steps: { gate: { status: 'completed', summary: 'rejected' }, publish: { status: 'skipped' } },
    });
    expect(approved).toMatchObject({
      status: 'completed',
      steps: { gate: { status: 'completed', summary: 'approved' }, publish: { status: 'completed' } },
    });
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'APPROVAL.TIMEOUT', message: expect.stringContaining("Step 'gate' failed") },
      steps: {
        gate: { status: 'failed', error: { code: 'APPROVAL.TIMEOUT' } },
        publish: { status: 'skipped' },
      },
    });
    for (const run of [rejected, approved, failed]) {
      expect(run.steps.gate.durationMs).toBeGreaterThanOrEqual(1000);
      expect(run.steps.gate.durationMs).toBeLessThan(5000);
    }

    const resolved = async (id: string) =>
      (await eventsOf(id)).find((e) => e.type === 'approval.resolved')!.data;
    expect(await resolved(rejectId)).toEqual({ approved: false, timedOut: true });
    expect(await resolved(approveId)).toEqual({ approved: true, timedOut: true });
    expect(await resolved(failId)).toEqual({ approved: false, timedOut: true, onTimeout: 'fail' });
    const failEvents = await eventsOf(failId);
    expect(typesOf(failEvents, 'gate').slice(-2)).toEqual(['approval.resolved', 'step.failed']);
    expect(failEvents.at(-1)).toMatchObject({
      type: 'run.failed',
      data: { error: { code: 'APPROVAL.TIMEOUT' } },
    });

    expect((await problemOf(await decide(rejectId, { approved: true }), 409)).code).toBe('RUN.NOT_ACTIVE');
  });
});

describe('cancel', () => {
  it('cancels a run waiting for approval: the approval is cancelled, the rest skipped', async () => {
    const id = await start(gated());
    await waitForRun(id, waiting);
    const res = await send('POST', `/api/v1/runs/${id}/cancel`, { reason: 'changed my mind' });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/v1/runs/${id}`);
    expect(await bodyOf(res)).toEqual({ runId: id, status: 'cancelling' });

    const run = await waitForRun(id);
    expect(run).toMatchObject({
      status: 'cancelled',
      error: { code: 'RUN.CANCELLED', message: 'The run was cancelled: changed my mind' },
      steps: {
        draft: { status: 'completed' },
        gate: { status: 'cancelled' },
        publish: { status: 'skipped' },
      },
    });
    const events = await eventsOf(id);
    expect(events.slice(-3).map((e) => [e.type, e.stepId])).toEqual([
      ['step.cancelled', 'gate'],
      ['step.skipped', 'publish'],
      ['run.cancelled', undefined],
    ]);
    expect(events.find((e) => e.stepId === 'publish')!.data).toEqual({ reason: 'the run was cancelled' });
    expect(await (await fetch(`${project.base}/api/v1/runs/${id}/steps/draft/output`)).text()).toBe(
      'the draft',
    );

    const twice = await problemOf(await send('POST', `/api/v1/runs/${id}/cancel`), 409);
    expect(twice.code).toBe('RUN.NOT_ACTIVE');
  });

  it('cancels a run while an agent step runs: that step is cancelled, none after it runs', async () => {
    const id = await start(chain(20));
    // Cancel once the run is under way (a cancel that beats the first step skips every step instead).
    await waitForRun(id, (r) => r.steps.s1.status !== 'pending');
    expect((await send('POST', `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    const run = await waitForRun(id);
    expect(run.status).toBe('cancelled');
    expect(run.error).toEqual({ code: 'RUN.CANCELLED', message: 'The run was cancelled' });
    const statuses = Object.values(run.steps).map((s: any) => s.status);
    const cut = statuses.indexOf('cancelled');
    expect(cut).toBeGreaterThanOrEqual(0);
    expect(statuses.slice(0, cut).every((s) => s === 'completed')).toBe(true);
    expect(statuses.slice(cut + 1).every((s) => s === 'skipped')).toBe(true);
    // Up to its terminal event the log is well formed (what may follow it: see the skipped test below).
    const events = await eventsOf(id);
    const end = events.findIndex((e) => e.type === 'run.cancelled');
    expectWellFormedLog(events.slice(0, end + 1), 'run.cancelled');
  });

  // Durable activities cannot be cancelled: the halted call's deltas are refused by the closed event log.
  it('appends nothing after run.cancelled; a client resuming after it is not left hanging', async () => {
    const id = await start(chain(8));
    // Cancel as soon as s2's agent call is under way.
    await readSse(eventsUrl(id), {
      stop: (r) => r.events.some((e) => e.type === 'step.started' && e.stepId === 's2'),
    });
    expect((await send('POST', `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    await waitForRun(id);
    await sleep(LATENCY_MS * 5); // the halted call's activity has finished by now
    const events = await eventsOf(id);
    expectWellFormedLog(events, 'run.cancelled');
    const resumed = await readSse(eventsUrl(id), {
      headers: { 'last-event-id': String(events.at(-1)!.id) },
      timeoutMs: 1000,
    });
    expect(resumed).toMatchObject({ ended: true, events: [] });
  });

  it('stops a group chat when its run is cancelled: its next turn is not taken', async () => {
    const id = await start({
      id: 'long-chat',
      name: 'Long chat',
      steps: [
        { id: 'talk', kind: 'groupChat', participants: ['echo', 'architect'], maxRounds: 6, prompt: 'Talk.' },
      ],
    });
    await waitForRun(id, (r) => r.steps.talk.status === 'running');
    expect((await send('POST', `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    await waitForRun(id);
    // The chat's sub-orchestration ends at its next turn (RUN.NOT_ACTIVE), long before 12 turns.
    const chat = `${project.base}/runtime/webhooks/durabletask/instances/${encodeURIComponent(`${id}:talk`)}`;
    // Generous under load: a chat that was not stopped would complete its 12 turns, not fail.
    const deadline = Date.now() + 15_000;
    let status: any;
    do {
      await sleep(LATENCY_MS);
      status = await (await fetch(chat)).json();
    } while (status.runtimeStatus === 'Running' && Date.now() < deadline);
    expect(status.runtimeStatus).toBe('Failed');
    expect(JSON.stringify(status.output)).toMatch(/is cancelled|has ended/);
    const events = await eventsOf(id);
    expect(events.at(-1)!.type).toBe('run.cancelled');
  });

  it('rejects a cancel request with unknown fields', async () => {
    const id = await start(gated());
    const bad = await problemOf(
      await send('POST', `/api/v1/runs/${id}/cancel`, { reason: 'x', force: true }),
      400,
    );
    expect(bad.violations).toEqual([{ path: '', message: expect.stringMatching(/force/) }]);
    expect((await send('POST', `/api/v1/runs/${id}/cancel`)).status).toBe(202);
    expect((await waitForRun(id)).status).toBe('cancelled');
  });
});

describe('a run pinned to its workflow version', () => {
  const v1 = {
    id: 'pinned-flow',
    name: 'Pinned',
    input: { type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] },
    steps: [
      { id: 'first', agent: 'echo', prompt: 'first {{ input.topic }}' },
      { id: 'gate', kind: 'approval', prompt: 'Go on?', timeout: 'PT30S', dependsOn: ['first'] },
      { id: 'last', agent: 'echo', prompt: 'last {{ input.topic }}', dependsOn: ['gate'] },
    ],
  };
  const v2 = { ...v1, steps: [{ id: 'only', agent: 'echo', prompt: 'v2 {{ input.topic }}' }] };

  it('keeps version 1 after version 2 is stored, and new runs take the latest', async () => {
    expect((await send('POST', '/api/v1/workflows', v1)).status).toBe(201);
    const id = await runs.start({ workflowId: 'pinned-flow', input: { topic: 'pins' } });
    await waitForRun(id, (r) => r.status === 'waiting_for_approval');
    const put = await send('PUT', '/api/v1/workflows/pinned-flow', v2);
    expect(put.status).toBe(200);
    expect((await bodyOf(put)).version).toBe('2');

    expect((await bodyOf(send('GET', `/api/v1/runs/${id}`))).workflowVersion).toBe('1');
    expect((await send('POST', `/api/v1/runs/${id}/approval`, { approved: true })).status).toBe(202);
    const run = await waitForRun(id);
    expect(run).toMatchObject({ status: 'completed', workflowId: 'pinned-flow', workflowVersion: '1' });
    expect(Object.keys(run.steps)).toEqual(['first', 'gate', 'last']);
    expect(await runs.outputOf(id, 'last')).toBe('last pins');
    expect((await eventsOf(id))[0]!.data).toEqual({ workflowId: 'pinned-flow', version: '1' });

    const latest = await runs.runToEnd({ workflowId: 'pinned-flow', input: { topic: 'pins' } });
    expect(latest).toMatchObject({ status: 'completed', workflowVersion: '2' });
    expect(Object.keys(latest.steps)).toEqual(['only']);
    const old = await send('POST', '/api/v1/runs', {
      workflowId: 'pinned-flow',
      version: '1',
      input: { topic: 'x' },
    });
    expect(old.status).toBe(202);
    expect((await bodyOf(old)).workflowVersion).toBe('1');
    const missing = await send('POST', '/api/v1/runs', {
      workflowId: 'pinned-flow',
      version: '9',
      input: {},
    });
    expect((await problemOf(missing, 404)).code).toBe('WORKFLOW.NOT_FOUND');

    // Deleting the workflow leaves its runs readable.
    expect((await send('DELETE', '/api/v1/workflows/pinned-flow')).status).toBe(204);
    expect((await send('GET', `/api/v1/runs/${id}`)).status).toBe(200);
    expect(await runs.outputOf(id, 'first')).toBe('first pins');
  });
});

describe('GET /api/v1/runs/{id}/events (SSE)', () => {
  it('frames every event with id, event and data, and sends heartbeats while idle', async () => {
    const id = await start(gated());
    await waitForRun(id, waiting);
    let decided: Promise<Response> | undefined;
    const heartbeats = (read: SseRead) => read.blocks.filter((b) => b.comments.includes('heartbeat')).length;
    const read = await readSse(eventsUrl(id), {
      // Idle while the run waits: heartbeats; then a decision lets it finish and the stream ends.
      stop: (r) => {
        if (!decided && heartbeats(r) >= 2) decided = decide(id, { approved: true });
        return false;
      },
    });
    expect((await decided!).status).toBe(202);
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(read.headers.get('cache-control')).toBe('no-cache');
    expect(read.ended).toBe(true);
    expect(read.blocks[0]).toMatchObject({ retry: '2000', comments: [`run ${id}`] });
    for (const block of read.blocks.slice(1)) {
      if (block.data === undefined) {
        expect(block.raw).toBe(': heartbeat');
        continue;
      }
      expect(block.id).toBe(String(block.data.id));
      expect(block.event).toBe(block.data.type);
      expect(block.data.runId).toBe(id);
    }
    expect(heartbeats(read)).toBeGreaterThanOrEqual(2);
    // Heartbeats came while the run waited: after approval.requested, before approval.resolved.
    const at = (pred: (b: SseRead['blocks'][number]) => boolean) => read.blocks.findIndex(pred);
    const firstBeat = at((b) => b.comments.includes('heartbeat'));
    expect(firstBeat).toBeGreaterThan(at((b) => b.event === 'approval.requested'));
    expect(firstBeat).toBeLessThan(at((b) => b.event === 'approval.resolved'));
    expect(read.events.map((e) => e.id)).toEqual(read.events.map((_, i) => i + 1));
    expect(read.events.at(-1)!.type).toBe('run.completed');
    expect(read.events).toEqual(await eventsOf(id));
  });

  it('resumes with Last-Event-ID mid-run: every event exactly once, terminal included', async () => {
    const id = await start({
      id: 'resume-flow',
      name: 'Resume',
      steps: [...chain(3).steps, gate('gate', ['s3']), echo('after', 'after', ['gate'])],
    });
    // First connection: gone after s2 completed, while s3 runs.
    const first = await readSse(eventsUrl(id), {
      stop: (r) => r.events.some((e) => e.type === 'step.completed' && e.stepId === 's2'),
    });
    expect(first.ended).toBe(false);
    const lastSeen = first.events.at(-1)!.id;
    expect(isFinished(await bodyOf(send('GET', `/api/v1/runs/${id}`)))).toBe(false);

    // Second connection resumes after it; the approval arrives while it is open, and it runs to the end.
    let decided: Promise<Response> | undefined;
    const second = await readSse(eventsUrl(id), {
      headers: { 'last-event-id': String(lastSeen) },
      stop: (r) => {
        if (!decided && r.events.some((e) => e.type === 'approval.requested')) {
          decided = decide(id, { approved: true });
        }
        return false;
      },
    });
    expect((await decided!).status).toBe(202);
    expect(second.ended).toBe(true);
    expect(second.events[0]!.id).toBe(lastSeen + 1);
    const union = [...first.events, ...second.events];
    expect(union.map((e) => e.id)).toEqual(union.map((_, i) => i + 1));
    expect(union.at(-1)!.type).toBe('run.completed');
    expect(union).toEqual(await eventsOf(id));

    // A client that has the terminal event gets nothing more, and the stream ends at once.
    const done = await readSse(eventsUrl(id), {
      headers: { 'last-event-id': String(union.length) },
      timeoutMs: 2000,
    });
    expect(done.ended).toBe(true);
    expect(done.events).toEqual([]);
    // ?lastEventId= works like the header; no id replays everything.
    const tail = await readSse(eventsUrl(id, `?lastEventId=${union.length - 2}`));
    expect(tail.events).toEqual(union.slice(-2));
    expect(tail.ended).toBe(true);
    const all = await readSse(eventsUrl(id));
    expect(all.events).toEqual(union);

    const page = await bodyOf(
      fetch(eventsUrl(id, '?lastEventId=1&limit=2'), { headers: { accept: 'application/json' } }),
    );
    expect(page).toEqual({ items: union.slice(1, 3), lastId: union.length });
  });

  it('loses and repeats nothing when a client reconnects every two events while the run streams', async () => {
    const id = await start(chain(6));
    const seen: RunEvent[] = [];
    let connections = 0;
    for (let ended = false; !ended;) {
      connections += 1;
      const headers: Record<string, string> = seen.length ? { 'last-event-id': String(seen.at(-1)!.id) } : {};
      const read = await readSse(eventsUrl(id), { headers, stop: (r) => r.events.length >= 2 });
      seen.push(...read.events);
      ended = read.ended || read.events.at(-1)?.type === 'run.completed';
    }
    expect(connections).toBeGreaterThan(3);
    expect(seen.map((e) => e.id)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.at(-1)!.type).toBe('run.completed');
    expect(seen).toEqual(await eventsOf(id));
  });
});
