import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { authorize } from '../../src/local-host/http/auth';
import { parseConstraint } from '../../src/local-host/http/constraints';
import { bodyTypedData, BodyTooLargeError, readBody } from '../../src/local-host/http/request';
import { serializeCookie, splitOutputs } from '../../src/local-host/http/response';
import { normalizePrefix, RouteTable } from '../../src/local-host/http/route-table';
import { compareRoutes, matchRoute, parseRouteTemplate, splitPath } from '../../src/local-host/http/routes';
import type { Registration } from '../../src/local-host/worker/core';

const match = (template: string, path: string) => matchRoute(parseRouteTemplate(template), splitPath(path));

function reg(name: string, trigger: Record<string, unknown> = {}): Registration {
  const t = { type: 'httpTrigger', direction: 'in' as const, authLevel: 'anonymous', ...trigger };
  return {
    name,
    triggerName: 'req',
    trigger: t,
    bindings: { req: t, $return: { type: 'http', direction: 'out' } },
    callback: () => undefined,
  };
}

describe('route templates', () => {
  it('matches literals case-insensitively and ignores a trailing slash', () => {
    expect(match('api/Products', '/API/products/')).toEqual({});
    expect(match('api/products', '/api/product')).toBeUndefined();
    expect(match('api/products', '/api/products/1')).toBeUndefined();
  });

  it('binds URL-decoded parameters', () => {
    expect(match('items/{id}', '/items/a%20b')).toEqual({ id: 'a b' });
    expect(match('items/{id}/{sub}', '/items/1')).toBeUndefined();
  });

  it('supports optional parameters and defaults', () => {
    expect(match('items/{id?}', '/items')).toEqual({});
    expect(match('items/{id?}', '/items/7')).toEqual({ id: '7' });
    expect(match('items/{lang=en}', '/items')).toEqual({ lang: 'en' });
    expect(match('items/{lang=en}', '/items/fr')).toEqual({ lang: 'fr' });
    expect(match('items/{id:int?}', '/items/x')).toBeUndefined();
  });

  it('supports catch-all parameters', () => {
    expect(match('files/{*path}', '/files/a/b%2Fc/d.txt')).toEqual({ path: 'a/b/c/d.txt' });
    expect(match('files/{*path}', '/files')).toEqual({});
    expect(match('files/{**path}', '/files/x')).toEqual({ path: 'x' });
    expect(() => parseRouteTemplate('{*a}/b')).toThrow(/catch-all/);
  });

  it('supports complex segments', () => {
    expect(match('files/{name}.{ext}', '/files/report.final.pdf')).toEqual({
      name: 'report.final',
      ext: 'pdf',
    });
    expect(match('files/{name}.{ext?}', '/files/readme')).toEqual({ name: 'readme' });
    expect(match('v{version:int}/x', '/v2/x')).toEqual({ version: '2' });
    expect(match('v{version:int}/x', '/vx/x')).toBeUndefined();
  });

  it('handles escaped braces and regex constraints with special characters', () => {
    expect(match('a{{b}}/{id:regex(^\\d{{3}}$)}', '/a{b}/123')).toEqual({ id: '123' });
    expect(match('{id:regex(^\\d{{3}}$)}', '/1234')).toBeUndefined();
    // A `)` only ends the arguments when another constraint, a default, `?` or the end follows.
    expect(match('{code:regex(^(a|b)-c:d$)}', '/b-c:d')).toEqual({ code: 'b-c:d' });
    expect(match('{code:regex(^(a|b)$):length(1)}', '/a')).toEqual({ code: 'a' });
  });

  it('rejects malformed templates', () => {
    expect(() => parseRouteTemplate('a/{id')).toThrow();
    expect(() => parseRouteTemplate('a/{id}/{ID}')).toThrow(/more than once/);
    expect(() => parseRouteTemplate('a//b')).toThrow(/empty segment/);
    expect(() => parseRouteTemplate('{a}{b}')).toThrow(/separated/);
    expect(() => parseRouteTemplate('{id:nope}')).toThrow(/Unknown route constraint/);
    expect(() => parseRouteTemplate('{id:min(x)}')).toThrow(/integer/);
  });
});

describe('route constraints', () => {
  const ok = (constraint: string, value: string) => parseConstraint(constraint).test(value);

  it.each([
    ['int', '42', true],
    ['int', '-7', true],
    ['int', '2147483648', false],
    ['int', '4.2', false],
    ['long', '9223372036854775807', true],
    ['long', '9223372036854775808', false],
    ['bool', 'TRUE', true],
    ['bool', 'yes', false],
    ['guid', '3f2504e0-4f89-11d3-9a0c-0305e82c3301', true],
    ['guid', '{3F2504E0-4F89-11D3-9A0C-0305E82C3301}', true],
    ['guid', '3f2504e04f8911d39a0c0305e82c3301', true],
    ['guid', 'not-a-guid', false],
    ['alpha', 'abcXYZ', true],
    ['alpha', 'abc1', false],
    ['double', '1.5e3', true],
    ['float', '-.5', true],
    ['double', 'abc', false],
    ['decimal', '10.25', true],
    ['decimal', '1e3', false],
    ['datetime', '2024-02-29', true],
    ['datetime', '2023-02-29', false],
    ['datetime', '2024-01-05T10:30:00Z', true],
    ['datetime', '12/31/2024', true],
    ['datetime', 'tomorrow', false],
    ['minlength(3)', 'abc', true],
    ['minlength(3)', 'ab', false],
    ['maxlength(3)', 'abcd', false],
    ['length(2)', 'ab', true],
    ['length(2,4)', 'abcde', false],
    ['min(10)', '10', true],
    ['min(10)', '9', false],
    ['max(10)', '11', false],
    ['max(10)', 'x', false],
    ['range(1,5)', '5', true],
    ['range(1,5)', '0', false],
    ['regex(^[a-z]+-\\d+$)', 'ABC-12', true],
    ['regex(^[a-z]+-\\d+$)', 'abc', false],
    ['required', '', false],
  ])('%s on %p → %p', (constraint, value, expected) => {
    expect(ok(constraint, value)).toBe(expected);
  });

  it('chains constraints', () => {
    expect(match('{id:int:min(1)}', '/5')).toEqual({ id: '5' });
    expect(match('{id:int:min(1)}', '/0')).toBeUndefined();
    expect(match('{id:int:min(1)}', '/a')).toBeUndefined();
  });
});

describe('route precedence and the route table', () => {
  const sorted = (...templates: string[]) =>
    templates
      .map(parseRouteTemplate)
      .sort(compareRoutes)
      .map((t) => t.text);

  it('orders literals before constrained, plain and catch-all parameters', () => {
    expect(sorted('p/{*rest}', 'p/{id}', 'p/{id:int}', 'p/new')).toEqual([
      'p/new',
      'p/{id:int}',
      'p/{id}',
      'p/{*rest}',
    ]);
    expect(sorted('{a}/b', 'a/{b}')).toEqual(['a/{b}', '{a}/b']);
    expect(sorted('a/{b?}', 'a')).toEqual(['a', 'a/{b?}']);
  });

  const errors: string[] = [];
  const table = new RouteTable(
    [
      reg('byId', { route: 'items/{id:int}', methods: ['get'] }),
      reg('newItem', { route: 'items/new', methods: ['GET'] }),
      reg('byName', { route: 'items/{name}', methods: ['GET', 'PUT'] }),
      reg('create', { route: 'items', methods: ['POST'] }),
      reg('rest', { route: 'items/{*rest}' }),
      reg('bad', { route: 'x/{id:unknown}' }),
      { ...reg('timer'), trigger: { type: 'timerTrigger', direction: 'in' } },
    ],
    'v1/',
    (r, err) => errors.push(`${r.name}: ${err.message}`),
  );

  it('picks the most specific route for the method', () => {
    const pick = (method: string, path: string) => {
      const found = table.lookup(method, path);
      return found.kind === 'match' ? [found.route.reg.name, found.params] : found;
    };
    expect(pick('GET', '/v1/items/new')).toEqual(['newItem', {}]);
    expect(pick('get', '/V1/ITEMS/42')).toEqual(['byId', { id: '42' }]);
    expect(pick('GET', '/v1/items/pen')).toEqual(['byName', { name: 'pen' }]);
    expect(pick('PUT', '/v1/items/42')).toEqual(['byName', { name: '42' }]);
    // No methods on the catch-all route: it takes everything the others refuse.
    expect(pick('DELETE', '/v1/items/42')).toEqual(['rest', { rest: '42' }]);
    expect(pick('GET', '/v1/items/a/b')).toEqual(['rest', { rest: 'a/b' }]);
    expect(pick('GET', '/items/1')).toEqual({ kind: 'not-found' });
  });

  it('reports the allowed methods when only the method is wrong', () => {
    const t = new RouteTable(
      [reg('a', { route: 'a', methods: ['GET', 'POST'] })],
      undefined,
      () => undefined,
    );
    expect(t.lookup('DELETE', '/api/a')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'POST'] });
  });

  it('reports routes that do not parse, skips non-HTTP triggers and defaults the route to the name', () => {
    expect(errors).toEqual([expect.stringContaining("bad: Unknown route constraint 'unknown'")]);
    expect(table.routes.map((r) => r.reg.name)).not.toContain('timer');
    const t = new RouteTable([reg('Hello')], '', () => undefined);
    expect(t.lookup('GET', '/hello').kind).toBe('match');
    expect(normalizePrefix(undefined)).toBe('api');
    expect(normalizePrefix('/custom/')).toBe('custom');
  });
});

describe('request and response conversions', () => {
  it('sends UTF-8 text as a string and everything else as bytes', () => {
    expect(bodyTypedData(Buffer.from('{"a":1}'), 'application/json')).toEqual({ string: '{"a":1}' });
    expect(bodyTypedData(Buffer.from('héllo'), 'text/plain; charset=utf-8')).toEqual({ string: 'héllo' });
    expect(bodyTypedData(Buffer.from([0xff, 0xfe]), 'text/plain')).toEqual({
      bytes: Buffer.from([0xff, 0xfe]),
    });
    expect(bodyTypedData(Buffer.from('abc'), 'text/plain; charset=latin1')).toHaveProperty('bytes');
    expect(bodyTypedData(Buffer.from('abc'), 'application/octet-stream')).toHaveProperty('bytes');
    expect(bodyTypedData(Buffer.from('abc'), undefined)).toHaveProperty('bytes');
    expect(bodyTypedData(Buffer.alloc(0), 'text/plain')).toBeUndefined();
  });

  it('enforces the body limit', async () => {
    const req = (chunks: string[], headers = {}) =>
      Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), {
        headers,
      }) as unknown as IncomingMessage;
    await expect(readBody(req(['ab', 'cd']), 4)).resolves.toEqual(Buffer.from('abcd'));
    await expect(readBody(req(['ab', 'cde']), 4)).rejects.toBeInstanceOf(BodyTooLargeError);
    await expect(readBody(req([], { 'content-length': '5' }), 4)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it('serializes RPC cookies', () => {
    expect(
      serializeCookie({
        name: 'session',
        value: 'a b',
        path: { value: '/' },
        domain: { value: 'example.com' },
        expires: { value: { seconds: 0 } },
        maxAge: { value: 60 },
        secure: { value: true },
        httpOnly: { value: true },
        sameSite: 'explicitNone',
      }),
    ).toBe(
      'session=a%20b; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60; Secure; HttpOnly; SameSite=None',
    );
    expect(serializeCookie({ name: 'x', value: '1', sameSite: 'none' })).toBe('x=1');
  });

  it('separates the http response from other outputs', () => {
    const r = reg('f');
    r.bindings.queue = { type: 'serviceBus', direction: 'out' };
    r.bindings.page = { type: 'http', direction: 'out' };
    const split = splitOutputs(r, {
      returnValue: undefined,
      outputData: [
        { name: 'queue', data: { string: 'm' } },
        { name: 'page', data: { http: { statusCode: '201' } } },
      ],
    });
    expect(split).toEqual({
      http: { statusCode: '201' },
      others: [{ name: 'queue', data: { string: 'm' } }],
    });
  });
});

describe('function keys', () => {
  const req = (headers: Record<string, string> = {}) => ({ headers }) as unknown as IncomingMessage;
  const url = (q = '') => new URL(`http://127.0.0.1/api/f${q}`);
  const env = { LOCAL_HOST_MASTER_KEY: 'master', LOCAL_HOST_FUNCTION_KEY: 'fn' };

  it('checks keys per auth level', () => {
    expect(authorize('anonymous', req(), url(), {}, 'f')).toEqual({ ok: true });
    expect(authorize('function', req({ 'x-functions-key': 'fn' }), url(), env, 'f')).toEqual({ ok: true });
    expect(authorize('function', req(), url('?code=master'), env, 'f')).toEqual({ ok: true });
    expect(authorize('admin', req({ 'x-functions-key': 'fn' }), url(), env, 'f')).toMatchObject({
      ok: false,
    });
    expect(authorize('admin', req(), url('?code=master'), env, 'f')).toEqual({ ok: true });
    expect(authorize('function', req(), url('?code=nope'), env, 'f')).toMatchObject({ ok: false });
    expect(authorize('function', req(), url(), env, 'f')).toMatchObject({
      detail: expect.stringMatching(/x-functions-key/),
    });
  });

  it('names the settings to set when no key is configured', () => {
    expect(authorize('function', req(), url('?code=x'), {}, 'f')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/LOCAL_HOST_MASTER_KEY or LOCAL_HOST_FUNCTION_KEY/),
    });
    expect(authorize('admin', req(), url(), { LOCAL_HOST_FUNCTION_KEY: 'fn' }, 'f')).toMatchObject({
      detail: expect.stringMatching(/set LOCAL_HOST_MASTER_KEY in/),
    });
  });
});
