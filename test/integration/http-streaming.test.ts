/** HTTP streaming (app.setup({ enableHttpStream: true })) through the library's proxy, over loopback. */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger, type HostLogger } from '../../src/local-host/log';
import type { StreamGate } from '../fixtures/apps/http-app/streaming';

const appDir = path.join(__dirname, '../fixtures/apps/http-app/streaming');
let host: LocalHost;
let base: string;
let dataDir: string;
const errors: string[] = [];
const logger: HostLogger = { ...silentLogger, error: (m) => errors.push(m) };
const gate = (): StreamGate => (globalThis as { __httpStreamGate?: StreamGate }).__httpStreamGate ?? {};

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'http-streaming-'));
  host = new LocalHost({ appDir, port: 0, dataDir, logger, printFunctions: false });
  await host.start();
  base = host.baseUrl;
});

afterAll(async () => {
  await host?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  // The library's proxy server never listens past start-up: the host hands it requests in-process.
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  expect(handles.filter((h) => h instanceof http.Server && h.listening)).toEqual([]);
});

it('uses the proxy the library announced', () => {
  expect(host.http.streamProxyUri).toMatch(/^http:\/\/localhost:\d+\/$/);
});

it('relays chunks as they are produced', async () => {
  const res = await fetch(`${base}/chunks`);
  expect(res.status).toBe(200);
  expect(res.headers.get('x-streamed')).toBe('yes');
  expect(res.headers.get('x-ms-invocation-id')).toBeNull();
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const first = await reader.read();
  const firstSeenAt = Date.now();
  expect(decoder.decode(first.value)).toBe('first;');
  // The handler only produces its last chunk once released: a buffering host would never get here.
  expect(gate().lastProducedAt).toBeUndefined();
  await new Promise((r) => setTimeout(r, 50));
  gate().release!();
  let rest = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
    rest += decoder.decode(chunk.value);
  expect(rest).toBe('last');
  expect(gate().lastProducedAt).toBeGreaterThan(firstSeenAt);
});

it('streams request bodies to the handler with route params, query and headers', async () => {
  const body = Buffer.alloc(3 * 1024 * 1024, 7);
  const res = await fetch(`${base}/upload/42?q=a%20b`, { method: 'POST', body, headers: { 'x-test': 'hi' } });
  expect(res.status).toBe(201);
  expect(res.headers.getSetCookie()).toEqual(['streamed=1']);
  expect(await res.json()).toEqual({
    id: '42',
    q: 'a b',
    header: 'hi',
    url: `${base}/upload/42?q=a%20b`,
    length: body.length,
    sha: body.toString('base64').slice(0, 16),
  });
});

it('applies routing before streaming', async () => {
  expect((await fetch(`${base}/upload/x`, { method: 'POST', body: 'x' })).status).toBe(404);
  expect((await fetch(`${base}/upload/1`)).status).toBe(405);
});

it('answers 500 when the handler throws and 204 when it returns nothing, and keeps serving', async () => {
  const boom = await fetch(`${base}/streamBoom`);
  expect(boom.status).toBe(500);
  expect(boom.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(await boom.text()).not.toContain('kaboom');
  expect(errors.join('\n')).toContain('stream kaboom');

  const nothing = await fetch(`${base}/streamNothing`);
  expect(nothing.status).toBe(204);

  const again = await fetch(`${base}/upload/7`, { method: 'POST', body: 'abc' });
  expect(((await again.json()) as { length: number }).length).toBe(3);
});

it('survives a client that goes away mid-stream', async () => {
  const abort = new AbortController();
  const res = await fetch(`${base}/chunks`, { signal: abort.signal });
  const reader = res.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe('first;');
  abort.abort();
  await new Promise((r) => setTimeout(r, 50));
  gate().release!();
  await new Promise((r) => setTimeout(r, 50));
  const again = await fetch(`${base}/upload/8`, { method: 'POST', body: 'abcd' });
  expect(((await again.json()) as { length: number }).length).toBe(4);
});

it('answers 413 for announced bodies over 100 MB', async () => {
  const { port } = new URL(base);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/upload/1',
      headers: { 'content-length': String(200 * 1024 * 1024) },
      agent: false,
    });
    req.on('response', (res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    req.on('error', reject);
    req.flushHeaders();
  });
  expect(status).toBe(413);
});
