/**
 * HTTP streaming (`app.setup({ enableHttpStream: true })`): like the Functions host, the request is
 * forwarded as-is to the library's own HTTP proxy (its `HttpUri` capability) with the invocation id in
 * `x-ms-invocation-id`; the library hands that request to the handler and writes the handler's response
 * to the proxy response, which we relay to the client chunk by chunk.
 */
import * as http from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { requestHeaders } from './request';

const INVOCATION_ID_HEADER = 'x-ms-invocation-id';
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'expect',
];

/** The library's proxy. It listens on every interface; we only ever talk to it over loopback. */
export class StreamProxy {
  readonly uri: string;
  private readonly port: number;
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(uri: string) {
    this.uri = uri;
    const parsed = new URL(uri);
    this.port = Number(parsed.port || 80);
  }

  /** Starts forwarding `req` (body included) for `invocationId` and relays the answer into `res`. */
  open(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    invocationId: string,
    limit: number,
  ): ProxyExchange {
    const headers: Record<string, string> = requestHeaders(req);
    for (const name of [...HOP_BY_HOP, 'host']) delete headers[name];
    // Keep the client's framing: chunked uploads stay chunked (whatever the method), no body stays empty.
    if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
    else if (req.headers['content-length'] === undefined) headers['content-length'] = '0';
    Object.assign(headers, {
      [INVOCATION_ID_HEADER]: invocationId,
      'x-forwarded-host': url.host,
      'x-forwarded-proto': url.protocol.replace(':', ''),
    });
    const proxyReq = http.request({
      host: '127.0.0.1',
      port: this.port,
      method: req.method,
      path: url.pathname + url.search,
      headers,
      agent: this.agent,
    });
    return new ProxyExchange(req, res, proxyReq, limit);
  }

  close(): void {
    this.agent.destroy();
  }
}

export class ProxyExchange {
  /** Resolves when the proxy answered (headers relayed); rejects when the proxy could not be reached. */
  readonly started: Promise<void>;
  /** Resolves when the client response is done: complete, aborted or failed. */
  readonly finished: Promise<void>;
  private hasStarted = false;
  private aborted = false;
  /** The upload went over the body limit (the exchange was aborted). */
  tooLarge = false;

  constructor(
    req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly proxyReq: http.ClientRequest,
    limit: number,
  ) {
    this.finished = new Promise((resolve) => res.once('close', resolve));
    // A client that goes away must not leave the proxied request (and the handler's stream) hanging.
    res.once('close', () => {
      if (!res.writableFinished) this.abort();
    });
    this.started = new Promise((resolve, reject) => {
      proxyReq.once('response', (proxyRes) => {
        this.hasStarted = true;
        resolve();
        relay(proxyRes, res);
      });
      proxyReq.on('error', (err) => {
        if (!this.hasStarted) reject(err);
        else res.destroy(err);
      });
    });
    // Nobody may be waiting on `started` when the invocation failed first.
    this.started.catch(() => undefined);
    const limiter = new ByteLimit(limit, () => {
      this.tooLarge = true;
      this.abort();
    });
    req.pipe(limiter).pipe(proxyReq);
  }

  get isStarted(): boolean {
    return this.hasStarted;
  }

  get wasAborted(): boolean {
    return this.aborted;
  }

  /** Drops the proxied request (the invocation failed or produced no response). */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.proxyReq.destroy();
    if (this.hasStarted) this.res.destroy();
  }
}

function relay(proxyRes: http.IncomingMessage, res: http.ServerResponse): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(proxyRes.headers)) {
    if (value === undefined || HOP_BY_HOP.includes(name) || name === INVOCATION_ID_HEADER) continue;
    headers[name] = value;
  }
  res.writeHead(proxyRes.statusCode ?? 200, headers);
  // Send the status line and headers now: a streamed response may take long to produce its first chunk.
  res.flushHeaders();
  proxyRes.pipe(res);
  proxyRes.on('error', (err) => res.destroy(err));
  // A proxy response cut short must not look complete to the client.
  proxyRes.once('close', () => {
    if (!proxyRes.complete) res.destroy();
  });
}

/** Fails the upload once more than `limit` bytes went through. */
class ByteLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly onExceeded: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.onExceeded();
      done();
      return;
    }
    done(null, chunk);
  }
}
