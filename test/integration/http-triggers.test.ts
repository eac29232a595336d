/** HTTP triggers end to end: a real Functions app behind the local host, called over loopback. */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger, type HostLogger } from '../../src/local-host/log';

const appDir = path.join(__dirname, '../fixtures/apps/http-app');
let host: LocalHost;
let base: string;
let dataDir: string;
const errors: string[] = [];
const debug: string[] = [];
const logger: HostLogger = {
  ...silentLogger,
  error: (m) => errors.push(m),
  debug: (m) => debug.push(m),
};
const savedEnv = { ...process.env };

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'http-triggers-'));
  host = new LocalHost({ appDir, port: 0, dataDir, logger, printFunctions: false });
  await host.start();
  base = host.baseUrl;
});

afterAll(async () => {
  await host?.stop();
  process.env = savedEnv;
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  params: Record<string, string>;
}
const echoOf = async (res: Response) => (await res.json()) as Echo;

const problemOf = async (res: Response) => {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await res.json()) as { type: string; title: string; status: number; detail: string };
};

describe('routing', () => {
  it('serves functions under the routePrefix, with the function name as default route', async () => {
    const res = await fetch(`${base}/myapi/hello?name=Ada`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Hello, Ada');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await fetch(`${base}/api/hello`)).status).toBe(404);
    expect((await fetch(`${base}/MYAPI/HELLO`)).status).toBe(200);
  });

  it('binds constrained route parameters and the query', async () => {
    const res = await fetch(`${base}/myapi/products/books/42?sort=asc&sort=desc&q=a%20b`);
    expect(await res.json()).toMatchObject({
      function: 'product',
      method: 'GET',
      url: `${base}/myapi/products/books/42?sort=asc&sort=desc&q=a%20b`,
      params: { category: 'books', id: '42' },
      query: { sort: 'asc', q: 'a b' },
    });
    const optional = await echoOf(await fetch(`${base}/myapi/products/books`));
    expect(optional.params).toEqual({ category: 'books' });
    // `{id:int}` does not match "x", `{category:alpha}` does not match "b00ks".
    expect((await fetch(`${base}/myapi/products/books/x`)).status).toBe(404);
    expect((await fetch(`${base}/myapi/products/b00ks`)).status).toBe(404);
  });

  it('prefers literal segments over parameters', async () => {
    expect(await (await fetch(`${base}/myapi/products/new`)).json()).toEqual({ function: 'productNew' });
  });

  it('decodes catch-all values and passes headers through', async () => {
    const res = await fetch(`${base}/myapi/inspect/a%20b/c?x=1`, {
      method: 'DELETE',
      headers: { 'x-test': 'one', 'X-Upper': 'Two' },
    });
    const body = await echoOf(res);
    expect(body.params).toEqual({ rest: 'a b/c' });
    expect(body.method).toBe('DELETE');
    expect(body.headers).toMatchObject({ 'x-test': 'one', 'x-upper': 'Two', host: new URL(base).host });
  });

  it('joins repeated request headers with ", "', async () => {
    const body = await rawRequest('GET', '/myapi/inspect/x', [
      ['x-multi', 'a'],
      ['x-multi', 'b'],
    ]);
    expect((JSON.parse(body.text) as Echo).headers['x-multi']).toBe('a, b');
  });

  it('answers 404 and 405 with problem details', async () => {
    const missing = await fetch(`${base}/myapi/nope`);
    expect(missing.status).toBe(404);
    expect(await problemOf(missing)).toMatchObject({ type: 'about:blank', title: 'Not Found', status: 404 });

    const wrongMethod = await fetch(`${base}/myapi/products/new`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect(await problemOf(wrongMethod)).toMatchObject({ status: 405, title: 'Method Not Allowed' });
  });
});

describe('bodies', () => {
  it('round-trips JSON', async () => {
    const res = await fetch(`${base}/myapi/echo/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: [1, 'ü', null] }),
    });
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ received: { a: [1, 'ü', null] } });
  });

  it('round-trips text', async () => {
    const text = 'héllo wörld ✓';
    const res = await fetch(`${base}/myapi/echo/text`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: text,
    });
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe(text);
  });

  it('round-trips bytes exactly, whatever the content type says', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256));
    const bom = Buffer.from('\uFEFF{"text":"with a byte-order mark"}', 'utf8');
    const cases: [string, Buffer][] = [
      ['application/octet-stream', bytes],
      ['text/plain', bytes],
      ['image/png', bytes],
      ['application/json; charset=utf-8', bom],
    ];
    for (const [type, body] of cases) {
      const res = await fetch(`${base}/myapi/echo/binary`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(body);
    }
  });

  it('answers 413 for bodies over 100 MB without reading them', async () => {
    const res = await rawRequest(
      'POST',
      '/myapi/echo/binary',
      [['content-length', String(101 * 1024 * 1024)]],
      false,
    );
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toMatchObject({ status: 413 });
  });
});

describe('responses', () => {
  it('writes status, headers and cookies', async () => {
    const res = await fetch(`${base}/myapi/status/418`);
    expect(res.status).toBe(418);
    expect(res.headers.get('x-custom')).toBe('yes');
    expect(await res.text()).toBe('status 418');
    expect(res.headers.getSetCookie()).toEqual([
      'session=a%20b; Path=/; HttpOnly; SameSite=Lax',
      'theme=dark; Max-Age=60; Secure',
    ]);
    const noContent = await fetch(`${base}/myapi/status/204`);
    expect(noContent.status).toBe(204);
    expect((await fetch(`${base}/myapi/status/600`)).status).toBe(404);
  });

  it('answers 204 when the function returns nothing, 200 for an explicit empty response', async () => {
    const nothing = await fetch(`${base}/myapi/nothing`);
    expect(nothing.status).toBe(204);
    expect(await nothing.text()).toBe('');
    const empty = await fetch(`${base}/myapi/empty`);
    expect(empty.status).toBe(200);
    expect(empty.headers.get('content-length')).toBe('0');
  });

  it('uses a named http output binding', async () => {
    const res = await fetch(`${base}/myapi/named`);
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('from a named output');
  });

  it('answers 500 problem details when the handler throws, and keeps serving', async () => {
    errors.length = 0;
    const res = await fetch(`${base}/myapi/boom`);
    expect(res.status).toBe(500);
    const problem = await problemOf(res);
    expect(problem.detail).toContain('Functions.boom');
    expect(JSON.stringify(problem)).not.toContain('kaboom');
    expect(errors.join('\n')).toContain('kaboom: secret stack detail');
    expect(
      debug.some((l) => /^Executed 'Functions\.boom' \(Failed, Id=[\w-]+, Duration=\d+ms\)$/.test(l)),
    ).toBe(true);
    expect((await fetch(`${base}/myapi/hello`)).status).toBe(200);
    expect(debug.some((l) => /^Executed 'Functions\.hello' \(Succeeded, Id=/.test(l))).toBe(true);
  });
});

describe('outputs', () => {
  it('hands non-http outputs to the host after a successful invocation', async () => {
    const dispatch = jest.spyOn(host, 'dispatchOutputs').mockResolvedValue(undefined);
    try {
      const res = await fetch(`${base}/myapi/withOutput`, { method: 'POST', body: 'payload' });
      expect(res.status).toBe(201);
      expect(dispatch).toHaveBeenCalledTimes(1);
      const [reg, outputs] = dispatch.mock.calls[0]!;
      expect(reg.name).toBe('withOutput');
      expect(outputs).toEqual([{ name: 'sink', data: { json: JSON.stringify({ message: 'payload' }) } }]);

      dispatch.mockClear();
      await fetch(`${base}/myapi/boom`);
      expect(dispatch).not.toHaveBeenCalled();
    } finally {
      dispatch.mockRestore();
    }
  });

  it('fails the request when delivering an output fails', async () => {
    const dispatch = jest.spyOn(host, 'dispatchOutputs').mockRejectedValue(new Error('sink is down'));
    try {
      const res = await fetch(`${base}/myapi/failingOutput`, { method: 'POST' });
      expect(res.status).toBe(500);
      expect(await res.text()).not.toContain('should not be seen');
    } finally {
      dispatch.mockRestore();
    }
  });
});

describe('auth levels', () => {
  afterEach(() => {
    delete process.env.LOCAL_HOST_MASTER_KEY;
    delete process.env.LOCAL_HOST_FUNCTION_KEY;
  });

  it('rejects non-anonymous functions when no key is configured, naming the settings', async () => {
    const res = await fetch(`${base}/myapi/secure?code=anything`);
    expect(res.status).toBe(401);
    expect((await problemOf(res)).detail).toMatch(/LOCAL_HOST_MASTER_KEY or LOCAL_HOST_FUNCTION_KEY/);
  });

  it('accepts the function key in the header or the code parameter', async () => {
    process.env.LOCAL_HOST_FUNCTION_KEY = 'fn-key';
    expect((await fetch(`${base}/myapi/secure`)).status).toBe(401);
    expect((await fetch(`${base}/myapi/secure?code=wrong`)).status).toBe(401);
    const withHeader = await fetch(`${base}/myapi/secure`, { headers: { 'x-functions-key': 'fn-key' } });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.text()).toBe('function secret');
    expect((await fetch(`${base}/myapi/secure?code=fn-key`)).status).toBe(200);
  });

  it('requires the master key for admin functions', async () => {
    process.env.LOCAL_HOST_FUNCTION_KEY = 'fn-key';
    process.env.LOCAL_HOST_MASTER_KEY = 'master-key';
    expect((await fetch(`${base}/myapi/admin-only?code=fn-key`)).status).toBe(401);
    expect((await fetch(`${base}/myapi/admin-only?code=master-key`)).status).toBe(200);
    expect(
      (await fetch(`${base}/myapi/secure`, { headers: { 'x-functions-key': 'master-key' } })).status,
    ).toBe(200);
  });
});

describe('host integration', () => {
  it('describes HTTP functions like func start', () => {
    const reg = (name: string) => host.app.registry.get(name)!;
    expect(host.http.describe(reg('hello'))).toBe(`[GET] http://localhost:${host.port}/myapi/hello`);
    expect(host.http.describe(reg('product'))).toBe(
      `[GET] http://localhost:${host.port}/myapi/products/{category:alpha}/{id:int?}`,
    );
    expect(host.http.describe(reg('inspect'))).toBe(
      `[GET,DELETE] http://localhost:${host.port}/myapi/inspect/{*rest}`,
    );
  });

  it('routes mounted prefixes to raw handlers before triggers', async () => {
    host.http.mount('/myapi/products/raw/', async (req, res, url) => {
      res.end(`raw ${req.method} ${url.pathname}`);
    });
    expect(await (await fetch(`${base}/myapi/products/RAW/x`)).text()).toBe('raw GET /myapi/products/RAW/x');
    expect(await (await fetch(`${base}/myapi/products/raw`)).text()).toBe('raw GET /myapi/products/raw');
    expect((await fetch(`${base}/myapi/products/rawer`)).status).toBe(200); // the product route
  });

  it('turns a failing raw handler into a 500 without crashing', async () => {
    host.http.mount('/broken', async () => {
      throw new Error('raw failure');
    });
    const res = await fetch(`${base}/broken/x`);
    expect(res.status).toBe(500);
    expect((await problemOf(res)).detail).not.toContain('raw failure');
  });
});

describe('stop', () => {
  // Runs last: it stops the host.
  it('lets in-flight requests finish, then refuses new ones', async () => {
    const inFlight = fetch(`${base}/myapi/slow?ms=300`);
    await new Promise((r) => setTimeout(r, 50));
    const stopped = host.stop();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.text()).toBe('finally');
    await stopped;
    await expect(fetch(`${base}/myapi/hello`)).rejects.toThrow();
  });
});

/** A request fetch cannot make: repeated headers, or a body announced but never sent. */
function rawRequest(
  method: string,
  requestPath: string,
  headers: [string, string][],
  end = true,
): Promise<{ status: number; text: string }> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const rawHeaders = [['host', `127.0.0.1:${port}`], ...headers].flat();
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path: requestPath,
      headers: rawHeaders,
      agent: false,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      });
    });
    req.on('error', reject);
    if (end) req.end();
    else req.flushHeaders();
  });
}
