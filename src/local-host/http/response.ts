/**
 * From an invocation's RPC response back to HTTP: pick the `http` output (the `$return` binding or a
 * named one), write its status, headers, cookies and body, and hand every other output to the host.
 */
import type { ServerResponse } from 'node:http';
import type { Registration, RpcHttpData, RpcInvocationResponse, RpcTypedData } from '../worker/core';
import { typedDataToBuffer } from '../worker/typed-data';

export interface SplitOutputs {
  /** The HTTP response, when the function produced one. */
  http: RpcHttpData | undefined;
  /** Every non-http output, for `dispatchOutputs`. */
  others: { name: string; data: RpcTypedData }[];
}

const isHttpBinding = (reg: Registration, name: string): boolean =>
  String(reg.bindings[name]?.type ?? '').toLowerCase() === 'http';

export function splitOutputs(reg: Registration, response: RpcInvocationResponse | undefined): SplitOutputs {
  const candidates: { name: string; data: RpcTypedData | null | undefined }[] = [];
  if (reg.bindings.$return) candidates.push({ name: '$return', data: response?.returnValue });
  for (const o of response?.outputData ?? []) if (o.name) candidates.push({ name: o.name, data: o.data });
  let http: RpcHttpData | undefined;
  const others: SplitOutputs['others'] = [];
  for (const { name, data } of candidates) {
    if (data === null || data === undefined) continue;
    if (isHttpBinding(reg, name)) http ??= data.http ?? undefined;
    else others.push({ name, data });
  }
  return { http, others };
}

/** Whether a function that returned `result` has (for sure, or maybe) produced an HTTP response. */
export function responseExpectation(reg: Registration, result: unknown): 'yes' | 'no' | 'maybe' {
  const namedHttp = Object.keys(reg.bindings).some(
    (n) => n !== '$return' && reg.bindings[n]?.direction === 'out' && isHttpBinding(reg, n),
  );
  if (isHttpBinding(reg, '$return') && result !== null && result !== undefined) return 'yes';
  return namedHttp ? 'maybe' : 'no';
}

/** The RPC cookie shape (`RpcHttpCookie`): optional fields are `{ value }` wrappers. */
interface RpcCookie {
  name?: string;
  value?: string;
  domain?: { value?: string } | null;
  path?: { value?: string } | null;
  expires?: { value?: { seconds?: number | string } } | null;
  secure?: { value?: boolean } | null;
  httpOnly?: { value?: boolean } | null;
  sameSite?: string | null;
  maxAge?: { value?: number } | null;
}

/** One Set-Cookie value, the way the host renders an RPC cookie. */
export function serializeCookie(raw: unknown): string {
  const c = (raw ?? {}) as RpcCookie;
  const parts = [`${c.name ?? ''}=${encodeURIComponent(c.value ?? '')}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  const seconds = Number(c.expires?.value?.seconds);
  if (c.expires?.value && Number.isFinite(seconds))
    parts.push(`Expires=${new Date(seconds * 1000).toUTCString()}`);
  if (typeof c.maxAge?.value === 'number') parts.push(`Max-Age=${Math.trunc(c.maxAge.value)}`);
  if (c.secure?.value) parts.push('Secure');
  if (c.httpOnly?.value) parts.push('HttpOnly');
  const sameSite = { lax: 'Lax', strict: 'Strict', explicitnone: 'None' }[
    String(c.sameSite ?? '').toLowerCase()
  ];
  if (sameSite) parts.push(`SameSite=${sameSite}`);
  return parts.join('; ');
}

const NO_BODY_STATUS = new Set([204, 205, 304]);
/** Framing is the server's business, not the handler's. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'upgrade',
  'trailer',
]);

/** Writes the function's response. Throws (before anything is sent) on an invalid status or header. */
export function writeHttpResponse(res: ServerResponse, http: RpcHttpData, method: string): void {
  if (res.destroyed) return; // the client is gone
  const parsed = Number.parseInt(http.statusCode ?? '', 10);
  const status = Number.isNaN(parsed) ? 200 : parsed;
  if (status < 100 || status > 999) throw new Error(`Invalid HTTP status code ${http.statusCode}.`);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(http.headers ?? {})) {
    if (!HOP_BY_HOP.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
  }
  const cookies = (http.cookies ?? []).map(serializeCookie);
  if (cookies.length > 0) {
    const existing = headers['set-cookie'];
    headers['set-cookie'] = [...(existing === undefined ? [] : [existing].flat()), ...cookies];
  }
  const body = NO_BODY_STATUS.has(status) ? Buffer.alloc(0) : typedDataToBuffer(http.body);
  if (!NO_BODY_STATUS.has(status)) headers['content-length'] = String(body.length);
  res.writeHead(status, headers);
  res.end(method === 'HEAD' || body.length === 0 ? undefined : body);
}

/** What the host answers when an HTTP function produced no response. */
export function writeNoContent(res: ServerResponse): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(204);
  res.end();
}
