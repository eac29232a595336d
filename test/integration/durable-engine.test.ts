import { completion, startHub, type Harness } from '../helpers/durable-harness';

let h: Harness;
beforeAll(() => {
  h = startHub();
});
afterAll(async () => {
  await h.close();
});

test('a chain of activities completes with their results in order', async () => {
  const id = await h.hub.startNew('chain', JSON.stringify(['A', 'B']));
  const s = await completion(h.hub, id);
  expect(s.runtimeStatus).toBe('Completed');
  expect(s.output).toEqual(['Hello A!', 'Hello B!']);
});

test('fan-out/fan-in with Task.all', async () => {
  const id = await h.hub.startNew('fanOut', '50');
  const s = await completion(h.hub, id);
  expect(s.output).toBe(2 * ((49 * 50) / 2));
});

test('retry options: a flaky activity succeeds on its third attempt', async () => {
  const id = await h.hub.startNew('retry');
  const s = await completion(h.hub, id);
  expect(s.runtimeStatus).toBe('Completed');
  expect(s.output).toBe('ok after 3');
});

test('retries exhausted: the orchestrator catches the last failure', async () => {
  const id = await h.hub.startNew('retryExhaust');
  const s = await completion(h.hub, id);
  expect(s.output).toMatch(/caught: TypeError: still broken/);
});

test('Task.any races an activity with a timer and cancels the timer', async () => {
  const id = await h.hub.startNew('race');
  const s = await completion(h.hub, id);
  expect(s.output).toBe('work');
});

test('timers fire on the real clock', async () => {
  const t0 = Date.now();
  const id = await h.hub.startNew('timer', '300');
  const s = await completion(h.hub, id);
  expect(s.output).toBeGreaterThanOrEqual(300);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
});

test('long timers are split into segments and still fire at the requested time', async () => {
  const id = await h.hub.startNew('timer', '4500');
  const s = await completion(h.hub, id, 15_000);
  expect(s.runtimeStatus).toBe('Completed');
  expect(s.output).toBeGreaterThanOrEqual(4500);
  const timers = (s.history as { EventType: number }[]).filter((e) => e.EventType === 10);
  expect(timers.length).toBeGreaterThan(1);
}, 20_000);

test('external events: approval raised before the timeout', async () => {
  const id = await h.hub.startNew('approval', '60000');
  await new Promise((r) => setTimeout(r, 50));
  expect(h.hub.getStatus(id)!.customStatus).toEqual({ stage: 'waiting' });
  await h.hub.raiseEvent(id, 'approval', JSON.stringify('alice'));
  const s = await completion(h.hub, id);
  expect(s.output).toEqual({ approved: true, by: 'alice' });
  expect(s.customStatus).toEqual({ stage: 'approved' });
});

test('external events: timeout wins when nobody approves', async () => {
  const id = await h.hub.startNew('approval', '200');
  const s = await completion(h.hub, id);
  expect(s.output).toEqual({ approved: false });
});

test('sub-orchestrations: result, failure caught by the parent, retry', async () => {
  const id = await h.hub.startNew('parent');
  const s = await completion(h.hub, id, 15_000);
  expect(s.runtimeStatus).toBe('Completed');
  const out = s.output as { a: number; caught: string; retried: string };
  expect(out.a).toBe(42);
  expect(out.caught).toMatch(/Orchestrator function 'child' failed: child exploded/);
  expect(out.retried).toBe('child ok');
});

test('failure events carry string Reason and Details, which SDKs before 3.5 require', async () => {
  const ids = [await h.hub.startNew('parent'), await h.hub.startNew('retryExhaust')];
  for (const id of ids) {
    const s = await completion(h.hub, id, 15_000);
    const failures = (s.history as { EventType: number; Reason?: unknown; Details?: unknown }[]).filter((e) =>
      [6, 9].includes(e.EventType),
    );
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      expect(typeof f.Reason).toBe('string');
      expect(typeof f.Details).toBe('string');
    }
  }
});

test('entities: signal, call, entity-to-entity signal', async () => {
  const id = await h.hub.startNew('entityUser', JSON.stringify('k1'));
  const s = await completion(h.hub, id);
  expect(s.output).toBe(7);
  await h.hub.whenIdle();
  expect(JSON.parse(h.hub.readEntity('counter', 'k1').state!)).toBe(7);
  expect(JSON.parse(h.hub.readEntity('counter', 'mirror').state!)).toBeGreaterThan(0);
});

test('continueAsNew restarts with the new input and keeps history bounded', async () => {
  const id = await h.hub.startNew('counterLoop', '0');
  const s = await completion(h.hub, id);
  expect(s.output).toBe('done at 4');
  expect((s.history as unknown[]).length).toBeLessThan(12);
});

test('an orchestrator that throws fails the instance with its message', async () => {
  const id = await h.hub.startNew('throws');
  const s = await completion(h.hub, id);
  expect(s.runtimeStatus).toBe('Failed');
  expect(String(s.output)).toContain('orchestrator exploded');
});

test('terminate, suspend and resume', async () => {
  const a = await h.hub.startNew('waitsForever');
  const b = await h.hub.startNew('waitsForever');
  await h.hub.whenIdle();
  h.hub.terminate(a, 'operator said so');
  expect(h.hub.getStatus(a)!.runtimeStatus).toBe('Terminated');
  expect(h.hub.getStatus(a)!.output).toBe('operator said so');
  h.hub.suspend(b, 'pause');
  expect(h.hub.getStatus(b)!.runtimeStatus).toBe('Suspended');
  await h.hub.raiseEvent(b, 'go', '"x"');
  await new Promise((r) => setTimeout(r, 100));
  expect(h.hub.getStatus(b)!.runtimeStatus).toBe('Suspended');
  h.hub.resume(b, 'continue');
  const s = await completion(h.hub, b);
  expect(s.output).toBe('x');
});

test('a changed orchestrator fails the instance with a non-determinism error', async () => {
  const id = await h.hub.startNew('changesCode');
  await h.hub.whenIdle();
  process.env.FIXTURE_CHANGE_CODE = '1';
  try {
    await h.hub.raiseEvent(id, 'continue');
    const s = await completion(h.hub, id);
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toMatch(/Non-deterministic workflow detected/);
    expect(String(s.output)).toMatch(/'noop'.*'double'/);
  } finally {
    delete process.env.FIXTURE_CHANGE_CODE;
  }
});
