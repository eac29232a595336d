/**
 * The local host's HTTP front door, in the role of the Functions host's web server: raw endpoints
 * mounted by other components (e.g. the Durable HTTP API) first, then HTTP trigger routes with
 * `routePrefix`, route precedence, method filtering, function keys and, for apps that enabled it,
 * HTTP streaming through the library's proxy.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostComponent, HostContext, RawHttpHandler } from '../context';
import type { Registration } from '../worker/core';
import { authorize } from './auth';
import { sendProblem } from './problem';
import { requestUrl } from './request';
import { RouteTable } from './route-table';
import { StreamProxy } from './streaming';
import { runHttpTrigger, type DispatchOutputs } from './trigger';

export interface HttpHostOptions {
  port: number;
  hostname: string;
  dispatchOutputs: DispatchOutputs;
}

interface Mount {
  /** Lower-case, without a trailing slash. */
  prefix: string;
  handler: RawHttpHandler;
}

export class HttpHost implements HostComponent {
  readonly name = 'http';
  readonly routes: RouteTable;
  private readonly server: http.Server;
  private readonly mounts: Mount[] = [];
  private stream: StreamProxy | undefined;
  private boundPort: number | undefined;
  private readonly inFlight = new Set<http.ServerResponse>();
  private idleWaiters: (() => void)[] = [];
  private stopping = false;

  constructor(
    private readonly ctx: HostContext,
    private readonly opts: HttpHostOptions,
  ) {
    this.routes = new RouteTable(
      ctx.registry.functions.values(),
      ctx.hostJson.extensions?.http?.routePrefix,
      (reg, err) => ctx.log.error(`Function '${reg.name}' was not given an HTTP route: ${err.message}`),
    );
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('error', (err) => ctx.log.error(`HTTP server: ${err.message}`));
  }

  /** The listening port (the requested one until `listen` resolved). */
  get port(): number {
    return this.boundPort ?? this.opts.port;
  }

  /** The library's HTTP stream proxy, when the app enabled streaming. */
  get streamProxyUri(): string | undefined {
    return this.stream?.uri;
  }

  /** The library's HTTP stream proxy (see captureStreamProxy), when the app enabled streaming. */
  setStreamProxy(proxy: StreamProxy | undefined): void {
    this.stream?.close();
    this.stream = proxy;
  }

  /** Longer prefixes win; the handler gets the request untouched (body unread). */
  mount(prefix: string, handler: RawHttpHandler): void {
    const normalized = ('/' + prefix.replace(/^\/+/, '')).replace(/\/+$/, '').toLowerCase();
    this.mounts.push({ prefix: normalized, handler });
    this.mounts.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.hostname, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
  }

  start(): void {
    // The server already listens: `listen` runs before the app's start hooks so they can call it.
  }

  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    // Responses still to be written end their connection: keep-alive would only delay the shutdown.
    for (const res of this.inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    const closed = this.server.listening
      ? new Promise<void>((resolve) => this.server.close(() => resolve()))
      : Promise.resolve();
    this.server.closeIdleConnections();
    await this.whenIdle(deadline);
    this.server.closeAllConnections();
    this.stream?.close();
    await closed;
  }

  /** `[GET,POST] http://localhost:7071/api/route`, as `func start` lists HTTP functions. */
  describe(reg: Registration): string | undefined {
    const route = this.routes.routeOf(reg);
    if (!route) return undefined;
    const url = `http://localhost:${this.port}/${route.template.text}`;
    return route.methods ? `[${route.methods.join(',')}] ${url}` : url;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inFlight.add(res);
    res.once('close', () => {
      this.inFlight.delete(res);
      if (this.inFlight.size === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
    });
    if (this.stopping) res.setHeader('connection', 'close');
    this.handle(req, res).catch((err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      this.ctx.log.error(`HTTP ${req.method} ${req.url}: ${error.stack ?? error.message}`);
      sendProblem(res, 500, 'The local host failed to handle the request. See the host log for details.');
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = requestUrl(req, `127.0.0.1:${this.port}`);
    if (!url) return sendProblem(res, 400, 'The request target is not a valid URL.');
    const mount = this.findMount(url.pathname);
    if (mount) return mount.handler(req, res, url);

    const method = (req.method ?? 'GET').toUpperCase();
    const lookup = this.routes.lookup(method, url.pathname);
    if (lookup.kind === 'not-found') {
      return sendProblem(res, 404, `No function matches the path '${url.pathname}'.`);
    }
    if (lookup.kind === 'method-not-allowed') {
      const allow = lookup.allow.join(', ');
      return sendProblem(
        res,
        405,
        `The path '${url.pathname}' does not accept ${method} (allowed: ${allow}).`,
        {
          allow,
        },
      );
    }
    const { route, params } = lookup;
    const auth = authorize(route.authLevel, req, url, this.ctx.env, route.reg.name);
    if (!auth.ok) return sendProblem(res, 401, auth.detail);
    await runHttpTrigger({
      ctx: this.ctx,
      dispatchOutputs: this.opts.dispatchOutputs,
      stream: this.stream,
      route,
      params,
      req,
      res,
      url,
    });
  }

  private findMount(pathname: string): Mount | undefined {
    const path = pathname.toLowerCase();
    return this.mounts.find((m) => path === m.prefix || path.startsWith(m.prefix + '/') || m.prefix === '');
  }

  /** Resolves once no request is in flight, or at `deadline` (epoch ms). */
  private async whenIdle(deadline: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    });
    clearTimeout(timer);
  }
}
