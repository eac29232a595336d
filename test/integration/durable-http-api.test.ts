/** The Durable HTTP API over real HTTP, and the real DurableClient calling it from inside functions. */
import { LocalHost } from '../../src/local-host/host';
import { silentLogger } from '../../src/local-host/log';
import { DURABLE_APP, tempDir } from '../helpers/durable-harness';

let host: LocalHost;
let base: string;
const api = (): string => `${base}/runtime/webhooks/durabletask`;

beforeAll(async () => {
  host = new LocalHost({
    appDir: DURABLE_APP,
    port: 0,
    dataDir: tempDir(),
    logger: silentLogger,
    printFunctions: false,
  });
  await host.start();
  base = host.baseUrl;
});
afterAll(async () => {
  await host.stop();
});

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

async function untilDone(id: string, timeoutMs = 10_000): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(
      `${api()}/instances/${encodeURIComponent(id)}?showHistory=true&showHistoryOutput=true`,
    );
    const body = await json(res);
    if (res.status !== 202) return { status: res.status, body };
    if (Date.now() > deadline) throw new Error(`instance ${id} still ${body.runtimeStatus}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('an HTTP starter uses the DurableClient and createCheckStatusResponse; its URLs work on this port', async () => {
  const res = await fetch(`${base}/api/start/chain`, {
    method: 'POST',
    body: JSON.stringify(['Ada', 'Linus']),
  });
  expect(res.status).toBe(202);
  const payload = await json(res);
  expect(res.headers.get('location')).toBe(payload.statusQueryGetUri);
  expect(payload.statusQueryGetUri).toContain(
    `127.0.0.1:${host.port}/runtime/webhooks/durabletask/instances/${payload.id}`,
  );
  let status: any;
  for (let i = 0; i < 200; i++) {
    const r = await fetch(payload.statusQueryGetUri);
    status = await json(r);
    if (r.status === 200) break;
    await new Promise((r2) => setTimeout(r2, 20));
  }
  expect(status.runtimeStatus).toBe('Completed');
  expect(status.output).toEqual(['Hello Ada!', 'Hello Linus!']);
});

test('sync start waits for completion and returns the output', async () => {
  const res = await fetch(`${base}/api/start-wait/chain`, { method: 'POST', body: JSON.stringify(['Sync']) });
  expect(res.status).toBe(200);
  expect(await json(res)).toEqual(['Hello Sync!']);
});

test('start, status with history, status codes per state', async () => {
  const res = await fetch(`${api()}/orchestrators/chain/api-1`, {
    method: 'POST',
    body: JSON.stringify(['X']),
  });
  expect(res.status).toBe(202);
  expect((await json(res)).id).toBe('api-1');
  const done = await untilDone('api-1');
  expect(done.status).toBe(200);
  expect(done.body.input).toEqual(['X']);
  const types = done.body.historyEvents.map((e: any) => e.EventType);
  expect(types).toEqual(expect.arrayContaining(['ExecutionStarted', 'TaskCompleted', 'ExecutionCompleted']));
  expect(done.body.historyEvents.find((e: any) => e.EventType === 'TaskCompleted')).toMatchObject({
    FunctionName: 'hello',
    Result: 'Hello X!',
  });

  await fetch(`${api()}/orchestrators/throws/api-fail`, { method: 'POST' });
  const failed = await untilDone('api-fail');
  expect(failed.status).toBe(400);
  expect(failed.body.runtimeStatus).toBe('Failed');
});

test('the DurableClient reads status with history, entity state and management URLs', async () => {
  await fetch(`${api()}/orchestrators/chain/client-1`, { method: 'POST', body: '["C"]' });
  await untilDone('client-1');
  await fetch(`${api()}/entities/counter/viaClient?op=set`, { method: 'POST', body: '41' });
  await host.durable.whenIdle();
  const res = await fetch(`${base}/api/client/client-1`);
  expect(res.status).toBe(200);
  const body = await json(res);
  expect(body.status.runtimeStatus).toBe('Completed');
  expect(Array.isArray(body.status.history)).toBe(true);
  expect(body.entity).toEqual({ entityExists: true, entityState: 41 });
  expect(body.payload.statusQueryGetUri).toContain(`/instances/client-1`);
});

test('raise event, terminate, suspend and resume over HTTP', async () => {
  await fetch(`${api()}/orchestrators/waitsForever/ev-1`, { method: 'POST' });
  await fetch(`${api()}/orchestrators/waitsForever/ev-2`, { method: 'POST' });
  await host.durable.whenIdle();
  expect(
    (await fetch(`${api()}/instances/ev-1/raiseEvent/go`, { method: 'POST', body: '{"v":1}' })).status,
  ).toBe(202);
  expect((await untilDone('ev-1')).body.output).toEqual({ v: 1 });
  expect((await fetch(`${api()}/instances/ev-1/raiseEvent/go`, { method: 'POST', body: '1' })).status).toBe(
    410,
  );

  expect((await fetch(`${api()}/instances/ev-2/suspend?reason=hold`, { method: 'POST' })).status).toBe(202);
  expect((await json(await fetch(`${api()}/instances/ev-2`))).runtimeStatus).toBe('Suspended');
  expect((await fetch(`${api()}/instances/ev-2/resume?reason=go`, { method: 'POST' })).status).toBe(202);
  expect((await fetch(`${api()}/instances/ev-2/terminate?reason=enough`, { method: 'POST' })).status).toBe(
    202,
  );
  const t = await untilDone('ev-2');
  expect(t.status).toBe(400);
  expect(t.body).toMatchObject({ runtimeStatus: 'Terminated', output: 'enough' });
  expect((await fetch(`${api()}/instances/ev-2/terminate`, { method: 'POST' })).status).toBe(410);
});

test('list with filters and paging, then purge', async () => {
  for (let i = 0; i < 5; i++)
    await fetch(`${api()}/orchestrators/chain/page-${i}`, { method: 'POST', body: '["P"]' });
  for (let i = 0; i < 5; i++) await untilDone(`page-${i}`);
  const seen: string[] = [];
  let token: string | null = null;
  do {
    const res: Response = await fetch(
      `${api()}/instances?instanceIdPrefix=page-&top=2&runtimeStatus=Completed`,
      {
        headers: token ? { 'x-ms-continuation-token': token } : {},
      },
    );
    expect(res.status).toBe(200);
    seen.push(...(await json(res)).map((s: any) => s.instanceId));
    token = res.headers.get('x-ms-continuation-token');
  } while (token);
  expect(seen.sort()).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);

  expect(await json(await fetch(`${api()}/instances/page-0`, { method: 'DELETE' }))).toEqual({
    instancesDeleted: 1,
  });
  expect((await fetch(`${api()}/instances/page-0`)).status).toBe(404);
  const purged = await json(
    await fetch(`${api()}/instances?instanceIdPrefix=page-&runtimeStatus=Completed`, { method: 'DELETE' }),
  );
  expect(purged).toEqual({ instancesDeleted: 4 });
});

test('entities: signal and read over HTTP', async () => {
  expect((await fetch(`${api()}/entities/counter/http?op=add`, { method: 'POST', body: '3' })).status).toBe(
    202,
  );
  await host.durable.whenIdle();
  const res = await fetch(`${api()}/entities/counter/http`);
  expect(res.status).toBe(200);
  expect(await json(res)).toBe(3);
  expect((await fetch(`${api()}/entities/counter/nobody`)).status).toBe(404);
});

test('bad requests: unknown instance 404, malformed JSON 400, unknown function 404, conflict 409', async () => {
  const unknown = await fetch(`${api()}/instances/does-not-exist`);
  expect(unknown.status).toBe(404);
  expect(unknown.headers.get('content-type')).toContain('application/problem+json');
  expect((await fetch(`${api()}/instances/does-not-exist/raiseEvent/x`, { method: 'POST' })).status).toBe(
    404,
  );
  // An event name with an unencoded '/' is another route (the durable client does not encode names).
  expect((await fetch(`${api()}/instances/ev-1/raiseEvent/a/b`, { method: 'POST' })).status).toBe(404);
  const bad = await fetch(`${api()}/orchestrators/chain`, { method: 'POST', body: '{not json' });
  expect(bad.status).toBe(400);
  expect((await json(bad)).detail).toMatch(/not valid JSON/);
  expect((await fetch(`${api()}/orchestrators/noSuchOrchestrator`, { method: 'POST' })).status).toBe(404);
  expect((await fetch(`${api()}/entities/noSuchEntity/k?op=x`, { method: 'POST' })).status).toBe(404);
  await fetch(`${api()}/orchestrators/waitsForever/dup`, { method: 'POST' });
  expect((await fetch(`${api()}/orchestrators/waitsForever/dup`, { method: 'POST' })).status).toBe(409);
  expect((await fetch(`${api()}/instances?runtimeStatus=Bogus`)).status).toBe(400);
  expect((await fetch(`${api()}/instances/dup/rewind`, { method: 'POST' })).status).toBe(501);
  expect((await fetch(`${api()}/nothing/here`)).status).toBe(404);
});

describe('every durable feature, started and followed over HTTP', () => {
  const cases: [string, string, unknown, (s: any) => void][] = [
    ['activity chain', 'chain', ['A', 'B'], (s) => expect(s.output).toEqual(['Hello A!', 'Hello B!'])],
    ['fan-out/fan-in (Task.all)', 'fanOut', 20, (s) => expect(s.output).toBe(380)],
    ['retry options', 'retry', undefined, (s) => expect(s.output).toBe('ok after 3')],
    [
      'retries exhausted',
      'retryExhaust',
      undefined,
      (s) => expect(s.output).toMatch(/caught: TypeError: still broken/),
    ],
    ['Task.any with a cancelled timer', 'race', undefined, (s) => expect(s.output).toBe('work')],
    ['timer', 'timer', 200, (s) => expect(s.output).toBeGreaterThanOrEqual(200)],
    ['long timer (segments)', 'timer', 2500, (s) => expect(s.output).toBeGreaterThanOrEqual(2500)],
    ['external event timeout', 'approval', 150, (s) => expect(s.output).toEqual({ approved: false })],
    [
      'sub-orchestrations with retry',
      'parent',
      undefined,
      (s) => expect(s.output).toMatchObject({ a: 42, retried: 'child ok' }),
    ],
    [
      'entities (call, signal, entity-to-entity)',
      'entityUser',
      'http-feature',
      (s) => expect(s.output).toBe(7),
    ],
    [
      'continueAsNew and custom status',
      'counterLoop',
      0,
      (s) => {
        expect(s.output).toBe('done at 4');
        expect(s.customStatus).toEqual({ n: 4 });
      },
    ],
    ['orchestrator failure', 'throws', undefined, (s) => expect(s.runtimeStatus).toBe('Failed')],
  ];
  test.each(cases)('%s', async (_label, name, input, check) => {
    const res = await fetch(`${api()}/orchestrators/${name}`, {
      method: 'POST',
      body: input === undefined ? undefined : JSON.stringify(input),
    });
    expect(res.status).toBe(202);
    const { id } = await json(res);
    const done = await untilDone(id, 15_000);
    check(done.body);
  });

  test('external event raised over HTTP wins the race', async () => {
    const { id } = await json(
      await fetch(`${api()}/orchestrators/approval`, { method: 'POST', body: '60000' }),
    );
    await host.durable.whenIdle();
    expect((await json(await fetch(`${api()}/instances/${id}`))).customStatus).toEqual({ stage: 'waiting' });
    await fetch(`${api()}/instances/${id}/raiseEvent/approval`, { method: 'POST', body: '"bob"' });
    expect((await untilDone(id)).body.output).toEqual({ approved: true, by: 'bob' });
  });

  test('a changed orchestrator fails with a non-determinism error', async () => {
    const { id } = await json(await fetch(`${api()}/orchestrators/changesCode`, { method: 'POST' }));
    await host.durable.whenIdle();
    process.env.FIXTURE_CHANGE_CODE = '1';
    try {
      await fetch(`${api()}/instances/${id}/raiseEvent/continue`, { method: 'POST' });
      const done = await untilDone(id);
      expect(done.body.runtimeStatus).toBe('Failed');
      expect(done.body.output).toMatch(/Non-deterministic workflow detected/);
    } finally {
      delete process.env.FIXTURE_CHANGE_CODE;
    }
  });
});
