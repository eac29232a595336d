/** Service Bus triggers and output bindings end to end: a real app behind the local host, driven over loopback HTTP. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger, type HostLogger } from '../../src/local-host/log';
import type { SbEvent } from '../fixtures/apps/sb-app/index';

const appDir = path.join(__dirname, '../fixtures/apps/sb-app');
let host: LocalHost;
let base: string;
let dataDir: string;
const logged: string[] = [];
const logger: HostLogger = {
  ...silentLogger,
  error: (m) => logged.push(m),
  warn: (m) => logged.push(m),
  fn: (level, _category, fn, m) => {
    if (level === 'error') logged.push(`${fn ?? ''}: ${m}`);
  },
};
const savedEnv = { ...process.env };

const events = (fn: string): SbEvent[] =>
  ((globalThis as { __sbAppEvents?: SbEvent[] }).__sbAppEvents ?? []).filter((e) => e.fn === fn);

async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const send = (entity: string, body: string, headers: Record<string, string> = {}, query = '') =>
  fetch(`${base}/admin/servicebus/${entity}/messages${query}`, { method: 'POST', body, headers });

const problemOf = async (res: Response) => {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await res.json()) as { type: string; title: string; status: number; detail: string };
};

beforeAll(async () => {
  process.env.SB_APP_JOBS_QUEUE = 'agent-jobs';
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-triggers-'));
  host = new LocalHost({ appDir, port: 0, dataDir, logger, printFunctions: false });
  await host.start();
  base = host.baseUrl;
});

afterAll(async () => {
  await host?.stop();
  process.env = savedEnv;
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('queue triggers', () => {
  it('delivers the body and the trigger metadata the real host sends', async () => {
    const res = await send('queues/agent-jobs', JSON.stringify({ id: 'job-1', prompt: 'hi' }), {
      'content-type': 'application/json',
      'x-ms-message-id': 'msg-1',
      'x-ms-correlation-id': 'corr-1',
      'x-ms-application-properties': JSON.stringify({
        Tenant: 'contoso',
        attempt: 1,
        'Diagnostic-Id': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      }),
      'x-ms-subject': 'job',
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ messageId: 'msg-1', sequenceNumber: 1 });

    const [e] = await waitFor(() => events('receiveJob').length > 0 && events('receiveJob'));
    expect(e!.message).toEqual({ id: 'job-1', prompt: 'hi' });
    // The invocation's span continues the sender's trace (Diagnostic-Id), with a span id of its own.
    expect(e!.trace!.traceParent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(e!.trace!.traceParent).not.toContain('b7ad6b7169203331');
    const meta = e!.metadata!;
    expect(meta).toMatchObject({
      messageId: 'msg-1',
      correlationId: 'corr-1',
      contentType: 'application/json',
      deliveryCount: 1,
      sequenceNumber: 1,
      subject: 'job',
      label: 'job',
      // The library camel-cases nested keys of trigger metadata, like in Azure.
      applicationProperties: { tenant: 'contoso', attempt: 1 },
      userProperties: { tenant: 'contoso', attempt: 1 },
    });
    expect(typeof meta.lockToken).toBe('string');
    expect(Date.parse(meta.enqueuedTimeUtc as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(meta.expiresAtUtc).toBe('9999-12-31T23:59:59.999Z');
  });

  it('forwards extra outputs to another queue, which triggers another function', async () => {
    await send('queues/agent-jobs', JSON.stringify({ id: 'job-2' }), { 'content-type': 'application/json' });
    const result = await waitFor(() =>
      events('onResult').find((e) => (e.message as { jobId?: string }).jobId === 'job-2'),
    );
    expect(result.message).toEqual({ jobId: 'job-2', status: 'done' });
    expect(result.metadata!.contentType).toBe('application/json');
    await waitFor(async () => {
      const counts = (await (await fetch(`${base}/admin/servicebus/entities`)).json()) as {
        entities: { path: string; active: number; locked: number }[];
      };
      const q = counts.entities.find((c) => c.path === 'results');
      return q && q.active === 0 && q.locked === 0;
    });
  });

  it('sends one message per item of an array return value', async () => {
    await send('queues/split-in', 'a, b, c', { 'content-type': 'text/plain' });
    const got = await waitFor(() => events('splitReader').length >= 3 && events('splitReader'));
    expect(
      got.map((e) => e.message).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
    ).toEqual([{ part: 'a' }, { part: 'b' }, { part: 'c' }]);
  });

  it('passes binary bodies as Buffers', async () => {
    await fetch(`${base}/admin/servicebus/queues/binary-in/messages`, {
      method: 'POST',
      body: new Uint8Array([0, 255, 1]),
      headers: { 'content-type': 'application/octet-stream' },
    });
    const [e] = await waitFor(() => events('binary').length > 0 && events('binary'));
    expect(e!.message).toEqual({ buffer: [0, 255, 1] });
  });

  it('retries a failing function and dead-letters the message after maxDeliveryCount', async () => {
    await send('queues/poison', 'pill', { 'content-type': 'text/plain', 'x-ms-message-id': 'pill-1' });
    const dead = await waitFor(async () => {
      const list = (await (
        await fetch(`${base}/admin/servicebus/queues/poison/deadletter?peek=5`)
      ).json()) as Record<string, unknown>[];
      return list.length > 0 && list;
    });
    expect(dead[0]).toMatchObject({
      messageId: 'pill-1',
      body: 'pill',
      bodyEncoding: 'text',
      deliveryCount: 3,
      state: 'deadLettered',
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deadLetterErrorDescription:
        'Message could not be consumed after 3 delivery attempts. Last error: cannot handle pill',
    });
    expect(events('poison').map((e) => e.metadata!.deliveryCount)).toEqual([1, 2, 3]);
    expect(logged.some((l) => l.includes('poison') && l.includes('cannot handle pill'))).toBe(true);
    const active = (await (
      await fetch(`${base}/admin/servicebus/queues/poison/messages`)
    ).json()) as unknown[];
    expect(active).toEqual([]);
  });

  it('hands a batch to a cardinality many function with array metadata', async () => {
    const res = await send('queues/batch-in', JSON.stringify([{ n: 1 }, 'two', { n: 3 }]), {}, '?batch=true');
    expect(res.status).toBe(201);
    const sent = ((await res.json()) as { messages: { messageId: string }[] }).messages;
    expect(sent).toHaveLength(3);
    const [e] = await waitFor(() => events('batch').length > 0 && events('batch'));
    expect(e!.message).toEqual([{ n: 1 }, 'two', { n: 3 }]);
    expect(e!.metadata!.messageIdArray).toEqual(sent.map((s) => s.messageId));
    expect(e!.metadata!.deliveryCountArray).toEqual([1, 1, 1]);
    expect(e!.metadata!.sequenceNumberArray).toEqual([1, 2, 3]);
    expect(e!.metadata!.contentTypeArray).toEqual(['application/json', 'text/plain', 'application/json']);
  });

  it('processes a session one message at a time, in order', async () => {
    const bodies = ['s1', 's2', 's3', 's4'];
    await send(
      'queues/ordered',
      JSON.stringify(bodies),
      { 'x-ms-session-id': 'conversation-1' },
      '?batch=true',
    );
    await waitFor(() => events('ordered:end').length === 4);
    const trace = ((globalThis as { __sbAppEvents?: SbEvent[] }).__sbAppEvents ?? [])
      .filter((e) => e.fn.startsWith('ordered:'))
      .map((e) => `${e.fn.slice(8)}:${String(e.message)}`);
    expect(trace).toEqual(bodies.flatMap((b) => [`start:${b}`, `end:${b}`]));
    expect(events('ordered:start')[0]!.metadata!.sessionId).toBe('conversation-1');
  });
});

describe('topics', () => {
  it('fans a topic message out to both subscriptions', async () => {
    const res = await send('topics/events', JSON.stringify({ kind: 'signup' }), {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(201);
    await waitFor(() => events('auditEvents').length > 0 && events('mailEvents').length > 0);
    expect(events('auditEvents')[0]!.message).toEqual({ kind: 'signup' });
    expect(events('mailEvents')[0]!.message).toEqual({ kind: 'signup' });
    const counts = (await (await fetch(`${base}/admin/servicebus/entities`)).json()) as {
      entities: { path: string; kind: string }[];
    };
    expect(
      counts.entities.filter((c) => c.path.startsWith('events')).map((c) => `${c.kind}:${c.path}`),
    ).toEqual([
      'topic:events',
      'subscription:events/Subscriptions/audit',
      'subscription:events/Subscriptions/mail',
    ]);
  });
});

describe('admin API', () => {
  it('peeks without consuming and shows scheduled messages', async () => {
    const when = new Date(Date.now() + 3600_000).toISOString();
    const res = await send('queues/parked', 'later', {
      'x-ms-scheduled-enqueue-time': when,
      'content-type': 'text/plain',
    });
    expect(res.status).toBe(201);
    const list = (await (
      await fetch(`${base}/admin/servicebus/queues/parked/messages?peek=10`)
    ).json()) as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ body: 'later', state: 'scheduled', scheduledEnqueueTime: when });
  });

  it('answers bad requests and unknown routes with problem details', async () => {
    let res = await send('queues/q1', 'x', { 'x-ms-application-properties': '[1]' });
    expect(res.status).toBe(400);
    expect(await problemOf(res)).toMatchObject({
      status: 400,
      title: 'Bad Request',
      detail: expect.stringContaining('JSON object'),
    });

    res = await send('queues/q1', '{"not":"an array"}', {}, '?batch=true');
    expect((await problemOf(res)).status).toBe(400);

    res = await send('queues/bad%20name', 'x');
    expect((await problemOf(res)).detail).toMatch(/Invalid entity name/);

    res = await fetch(`${base}/admin/servicebus/queues/q1/messages?peek=0`);
    expect((await problemOf(res)).status).toBe(400);

    res = await fetch(`${base}/admin/servicebus/queues/never-created/messages`);
    expect((await problemOf(res)).status).toBe(404);

    res = await fetch(`${base}/admin/servicebus/nothing/here`);
    expect(await problemOf(res)).toMatchObject({ status: 404, title: 'Not Found' });

    res = await fetch(`${base}/admin/servicebus/topics/events/messages`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});
