/**
 * From an incoming request to the RPC trigger data the Functions host sends the Node worker, shaped so
 * that the library's HttpRequest (a WHATWG Request built from it) gives back the exact method, URL,
 * headers and body bytes.
 */
import type { IncomingMessage } from 'node:http';
import type { RpcHttpData, RpcTypedData } from '../worker/core';

/** The Functions host's default request body limit (`http.maxRequestBodySize` is ~100 MB). */
export const MAX_BODY_BYTES = 100 * 1024 * 1024;

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`The request body is larger than ${limit} bytes.`);
  }
}

/** Reads the whole body, failing fast when it is (or announces to be) over `limit`. */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Header names lower-case (as Node gives them); repeated headers joined with ', '. */
export function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/** First value per key, like the host's `Query` binding data. */
export function queryOf(url: URL): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) if (!(key in query)) query[key] = value;
  return query;
}

const TEXT_TYPES =
  /^(?:text\/[^;]+|application\/(?:[\w.+-]+\+)?(?:json|xml)|application\/(?:javascript|x-www-form-urlencoded))$/i;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The body as typed data: `string` for UTF-8 text and JSON (what the host sends for those), `bytes`
 * otherwise. Text is only used when decoding is lossless, so the library's Request re-encodes the
 * exact bytes the client sent.
 */
export function bodyTypedData(body: Buffer, contentType: string | undefined): RpcTypedData | undefined {
  if (body.length === 0) return undefined;
  const [mediaType = '', ...params] = (contentType ?? '').split(';').map((s) => s.trim());
  const charset = params
    .find((p) => /^charset=/i.test(p))
    ?.slice(8)
    .replace(/"/g, '')
    .toLowerCase();
  if (TEXT_TYPES.test(mediaType) && (charset === undefined || charset === 'utf-8' || charset === 'utf8')) {
    try {
      return { string: strictUtf8.decode(body) };
    } catch {
      // Not valid UTF-8 after all: keep the bytes.
    }
  }
  return { bytes: body };
}

function nullable(map: Record<string, string>): Record<string, { value: string }> {
  return Object.fromEntries(Object.entries(map).map(([k, value]) => [k, { value }]));
}

/** The `http` trigger data; `body` is omitted for streamed requests (the library reads the proxy). */
export function toRpcHttpRequest(
  req: IncomingMessage,
  url: URL,
  params: Record<string, string>,
  body: Buffer | undefined,
): RpcHttpData {
  const headers = requestHeaders(req);
  const query = queryOf(url);
  const rpc: RpcHttpData = {
    method: req.method ?? 'GET',
    url: url.href,
    headers,
    query,
    params,
    // The worker announces UseNullableValueDictionaryForHttp, so the host fills these too.
    nullableHeaders: nullable(headers),
    nullableQuery: nullable(query),
    nullableParams: nullable(params),
    identities: [],
  };
  const typed = body && bodyTypedData(body, headers['content-type']);
  if (typed) rpc.body = typed;
  return rpc;
}

/**
 * Trigger metadata as the host sends it for HTTP triggers: `Headers` and `Query` as JSON and each route
 * value as a string. The library ignores it, except in streaming mode where it reads headers and
 * route params from here.
 */
export function httpTriggerMetadata(rpc: RpcHttpData): Record<string, RpcTypedData> {
  const metadata: Record<string, RpcTypedData> = {};
  for (const [name, value] of Object.entries(rpc.params ?? {})) metadata[name] = { string: value };
  metadata.Headers = { json: JSON.stringify(rpc.headers ?? {}) };
  metadata.Query = { json: JSON.stringify(rpc.query ?? {}) };
  return metadata;
}

/** The URL the client used: its Host header (falling back to the listening address) and request target. */
export function requestUrl(req: IncomingMessage, fallbackHost: string): URL | undefined {
  const host = req.headers.host || fallbackHost;
  try {
    const url = new URL(req.url ?? '/', `http://${host}`);
    return url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}
