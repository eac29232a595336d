/**
 * HTTP streaming (`app.setup({ enableHttpStream: true })`): as with the Functions host, the request
 * reaches the library through its own HTTP proxy with the invocation id in `x-ms-invocation-id`; the
 * library hands it to the handler and writes the handler's response to the proxy response, which goes
 * to the client chunk by chunk.
 */
// The module object itself (not an interop copy): captureStreamProxy swaps its createServer.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import http = require('node:http');
import { Transform, type TransformCallback } from 'node:stream';

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

/**
 * The library's proxy server, captured when it is created (`captureStreamProxy`). Requests are handed
 * to it in-process (`server.emit('request', …)`) instead of over a second loopback HTTP connection:
 * the library runs exactly the code it runs behind the Functions host (its 'request' listener,
 * `createStreamRequest`, `sendProxyResponse`), and bodies stream straight from and to the client.
 */
export class StreamProxy {
  constructor(
    readonly uri: string,
    private readonly server: http.Server,
  ) {}

  /** Starts the exchange for `invocationId`: the library reads `req`'s body and answers into `res`. */
  open(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    invocationId: string,
    limit: number,
  ): ProxyExchange {
    return new ProxyExchange(this.server, req, res, url, invocationId, limit);
  }

  close(): void {
    if (this.server.listening) this.server.close();
  }
}

/**
 * Calls the programming model's `getCapabilities` and captures the HTTP proxy server the library
 * creates when streaming is enabled. The library listens on every interface; we close that listener
 * at once and only ever hand it requests in-process.
 */
export async function captureStreamProxy(
  getCapabilities: () => Promise<Record<string, string> | undefined> | Record<string, string> | undefined,
): Promise<StreamProxy | undefined> {
  const servers: http.Server[] = [];
  const original = http.createServer;
  const capture = ((...args: Parameters<typeof http.createServer>) => {
    const server = original(...args);
    servers.push(server);
    return server;
  }) as typeof http.createServer;
  const mutable = http as { createServer: typeof http.createServer };
  mutable.createServer = capture;
  let capabilities: Record<string, string> | undefined;
  try {
    capabilities = await getCapabilities();
  } finally {
    mutable.createServer = original;
  }
  const uri = capabilities?.HttpUri;
  const server = servers[servers.length - 1];
  if (!uri || !server) return undefined;
  const proxy = new StreamProxy(uri, server);
  // The library's findOpenPort path re-listens asynchronously: close whenever it is listening.
  if (server.listening) proxy.close();
  else server.once('listening', () => proxy.close());
  return proxy;
}

export class ProxyExchange {
  /** Resolves when the function's response started (status and headers sent). */
  readonly started: Promise<void>;
  /** Resolves when the client response is done: complete, aborted or failed. */
  readonly finished: Promise<void>;
  private hasStarted = false;
  private aborted = false;
  private readonly body: ByteLimit;
  /** The upload went over the body limit (the exchange was aborted). */
  tooLarge = false;

  constructor(
    server: http.Server,
    req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    url: URL,
    invocationId: string,
    limit: number,
  ) {
    this.finished = new Promise((resolve) => res.once('close', resolve));
    // A client that goes away must not leave the handler's body stream hanging.
    res.once('close', () => {
      if (!res.writableFinished) this.abort();
    });
    let markStarted!: () => void;
    this.started = new Promise<void>((resolve) => (markStarted = resolve));
    this.body = new ByteLimit(limit, () => {
      this.tooLarge = true;
      this.abort();
    });
    req.pipe(this.body);
    // What the library reads of its proxy request: headers (invocation id, forwarded host/proto), url,
    // method, and the body stream.
    const headers = {
      ...req.headers,
      [INVOCATION_ID_HEADER]: invocationId,
      'x-forwarded-host': url.host,
      'x-forwarded-proto': url.protocol.replace(':', ''),
    };
    const proxyReq = Object.assign(this.body, {
      headers,
      url: url.pathname + url.search,
      method: req.method,
    });
    const proxyRes = new ResponseWriter(res, () => {
      if (this.aborted) return false;
      this.hasStarted = true;
      markStarted();
      return true;
    });
    server.emit('request', proxyReq, proxyRes);
  }

  get isStarted(): boolean {
    return this.hasStarted;
  }

  get wasAborted(): boolean {
    return this.aborted;
  }

  /** Drops the exchange (the invocation failed, produced no response, or the client left). */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.body.destroy();
    if (this.hasStarted) this.res.destroy();
  }
}

/**
 * The response object the library writes to (`sendProxyResponse` uses setHeader, statusCode, write,
 * end). Headers go out with the first write, flushed at once: a streamed response may take long to
 * produce its next chunk. Hop-by-hop headers and the internal invocation id are not relayed.
 */
class ResponseWriter {
  statusCode = 200;
  private readonly headers: Record<string, string | string[]> = {};
  private state: 'new' | 'open' | 'dropped' = 'new';

  constructor(
    private readonly res: http.ServerResponse,
    private readonly onStart: () => boolean,
  ) {}

  setHeader(name: string, value: string | number | readonly string[]): this {
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.includes(lower) && lower !== INVOCATION_ID_HEADER) {
      this.headers[name] = typeof value === 'object' ? [...value] : String(value);
    }
    return this;
  }

  write(chunk: unknown): boolean {
    if (!this.open()) return true;
    return this.res.write(chunk);
  }

  end(chunk?: unknown): this {
    if (this.open()) this.res.end(chunk);
    return this;
  }

  private open(): boolean {
    if (this.state === 'new') {
      this.state = this.onStart() ? 'open' : 'dropped';
      if (this.state === 'open') {
        this.res.writeHead(this.statusCode, this.headers);
        this.res.flushHeaders();
      }
    }
    return this.state === 'open' && !this.res.destroyed;
  }
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
