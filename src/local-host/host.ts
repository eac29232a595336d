/**
 * The embedded local host: loads a Node v4 Functions app, captures its registrations and runs them
 * with HTTP triggers, the durable task hub, the Durable HTTP API, Service Bus and timer triggers,
 * all persisted in SQLite under the data directory.
 */
import type Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyLocalSettings, loadApp, type LoadedApp } from './app-loader';
import type { HostComponent, HostContext, OutputHandler, RawHttpHandler } from './context';
import { openDatabase } from './database';
import { DurableHub } from './durable/hub';
import { HttpHost } from './http/server';
import { captureStreamProxy } from './http/streaming';
import { createLogger, type HostLogger } from './log';
import { AmqpEndpoint } from './servicebus/amqp/server';
import { ServiceBusComponent } from './servicebus/component';
import { TimerTriggers } from './timer/component';
import type { FunctionRegistry, Registration, RpcTypedData } from './worker/core';
import { Invoker } from './worker/invoker';

export interface LocalHostOptions {
  appDir: string;
  port?: number;
  /** Interface to listen on; loopback by default. */
  hostname?: string;
  dataDir?: string;
  logger?: HostLogger;
  /** Reuse the registry of an app already loaded in this process (in-process restarts, tests). */
  registry?: FunctionRegistry;
  /** Milliseconds to let in-flight work finish on stop. */
  drainTimeoutMs?: number;
  /** Print the function list on start (default true). */
  printFunctions?: boolean;
  /**
   * Port of the Service Bus AMQP endpoint on 127.0.0.1 (0 picks a free one). Without it (the
   * default, so concurrent test hosts do not fight over a port) no endpoint runs; the CLI passes 5672.
   */
  amqpPort?: number;
}

export class LocalHost {
  readonly log: HostLogger;
  readonly components: HostComponent[] = [];
  app!: LoadedApp;
  db!: Database.Database;
  invoker!: Invoker;
  http!: HttpHost;
  durable!: DurableHub;
  serviceBus!: ServiceBusComponent;
  timers!: TimerTriggers;
  /** The Service Bus AMQP endpoint, when `amqpPort` was given. */
  amqp: AmqpEndpoint | undefined;
  private readonly outputHandlers = new Map<string, OutputHandler>();
  private stopping: Promise<void> | undefined;
  private setHostname = false;
  private setServiceBusConnection = false;

  constructor(private readonly options: LocalHostOptions) {
    this.log = options.logger ?? createLogger();
  }

  get port(): number {
    return this.http.port;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.http.port}`;
  }

  /** The bound port of the Service Bus AMQP endpoint, if it runs. */
  get amqpPort(): number | undefined {
    return this.amqp?.port;
  }

  /** The connection string for @azure/service-bus clients, if the AMQP endpoint runs. */
  get amqpConnectionString(): string | undefined {
    return this.amqp?.connectionString;
  }

  async start(): Promise<void> {
    const appDir = path.resolve(this.options.appDir);
    applyLocalSettings(appDir);
    this.app = this.options.registry?.functions.size
      ? { ...loadAppMeta(appDir), registry: this.options.registry }
      : loadApp(appDir, this.options.registry);
    const dataDir = path.resolve(this.options.dataDir ?? path.join(appDir, '.data'));
    fs.mkdirSync(dataDir, { recursive: true });
    this.db = openDatabase(path.join(dataDir, 'local-host.sqlite'));
    const registry = this.app.registry;
    registry.logSink = (level, category, message) => this.log.fn(level, category, undefined, message);
    this.invoker = new Invoker(registry, {
      appDir,
      log: (level, category, message, fn) => this.log.fn(level, category, fn, message),
    });

    const ctx: HostContext = {
      appDir,
      dataDir,
      registry,
      invoker: this.invoker,
      db: this.db,
      hostJson: this.app.hostJson,
      log: this.log,
      env: process.env,
      baseUrl: () => this.baseUrl,
      mountHttp: (prefix: string, handler: RawHttpHandler) => this.http.mount(prefix, handler),
      handleOutput: (type: string, handler: OutputHandler) =>
        this.outputHandlers.set(type.toLowerCase(), handler),
    };
    this.http = new HttpHost(ctx, {
      port: this.options.port ?? 7071,
      hostname: this.options.hostname ?? '127.0.0.1',
      dispatchOutputs: (reg, outputs) => this.dispatchOutputs(reg, outputs),
    });
    this.durable = new DurableHub(ctx, { dispatchOutputs: (reg, o) => this.dispatchOutputs(reg, o) });
    this.serviceBus = new ServiceBusComponent(ctx, {
      dispatchOutputs: (reg, o) => this.dispatchOutputs(reg, o),
    });
    this.timers = new TimerTriggers(ctx, { dispatchOutputs: (reg, o) => this.dispatchOutputs(reg, o) });
    this.components.push(this.http, this.durable, this.serviceBus, this.timers);

    // The programming model's capabilities are read once, at start-up (this also starts the library's
    // HTTP stream proxy when the app called app.setup({ enableHttpStream: true })).
    this.http.setStreamProxy(
      await captureStreamProxy(() => registry.programmingModel?.getCapabilities?.({})),
    );
    await this.http.listen();
    if (this.options.amqpPort !== undefined) {
      this.amqp = new AmqpEndpoint({
        broker: this.serviceBus.broker,
        db: this.db,
        port: this.options.amqpPort,
        log: this.log,
      });
      await this.amqp.listen();
    }
    // The app's own Service Bus client (the `ServiceBusConnection` connection) reaches this endpoint
    // unless the settings name another namespace.
    if (
      this.amqp &&
      !process.env.ServiceBusConnection &&
      !process.env.ServiceBusConnection__fullyQualifiedNamespace
    ) {
      process.env.ServiceBusConnection = this.amqp.connectionString;
      this.setServiceBusConnection = true;
    }
    // The DurableClient rewrites its URLs to localhost:7071 unless WEBSITE_HOSTNAME names the host.
    if (!process.env.WEBSITE_HOSTNAME) {
      process.env.WEBSITE_HOSTNAME = `localhost:${this.http.port}`;
      this.setHostname = true;
    }
    await this.invoker.runAppHooks('appStart');
    for (const c of this.components) {
      if (c !== this.http) await c.start();
    }
    if (this.options.printFunctions !== false) this.printFunctions();
  }

  /** Stops taking work, drains in-flight work (bounded by the drain timeout) and closes the store. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const deadline = Date.now() + (this.options.drainTimeoutMs ?? 10_000);
    try {
      await this.amqp?.close();
    } catch (err) {
      this.log.error(`stopping the Service Bus AMQP endpoint: ${(err as Error).message}`);
    }
    for (const c of [...this.components].reverse()) {
      try {
        await c.stop(deadline);
      } catch (err) {
        this.log.error(`stopping ${c.name}: ${(err as Error).message}`);
      }
    }
    try {
      await this.invoker?.runAppHooks('appTerminate');
    } catch (err) {
      this.log.error(`appTerminate hook: ${(err as Error).message}`);
    }
    if (this.db?.open) this.db.close();
    if (this.setHostname) delete process.env.WEBSITE_HOSTNAME;
    if (this.setServiceBusConnection) delete process.env.ServiceBusConnection;
  }

  /** Routes output binding values to the component that handles their binding type. */
  async dispatchOutputs(reg: Registration, outputs: { name: string; data: RpcTypedData }[]): Promise<void> {
    for (const { name, data } of outputs) {
      const binding = reg.bindings[name];
      if (!binding) continue;
      const type = String(binding.type).toLowerCase();
      if (type === 'http') continue;
      const handler = this.outputHandlers.get(type);
      if (!handler) {
        this.log.warn(
          `${reg.name}: output binding '${name}' of type '${String(binding.type)}' is not supported by the local host; its value was not delivered.`,
        );
        continue;
      }
      await handler({ ...binding, name }, data, reg);
    }
  }

  printFunctions(): void {
    const lines = ['', 'Functions:', ''];
    for (const reg of [...this.app.registry.functions.values()].sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const description =
        this.components.map((c) => c.describe?.(reg)).find((d) => d !== undefined) ?? reg.trigger.type;
      lines.push(`        ${reg.name}: ${description}`, '');
    }
    const data = path.relative(process.cwd(), this.durable.dataDir) || '.';
    if (this.amqp) {
      lines.push(`Service Bus AMQP on 127.0.0.1:${this.amqp.port}. Connection string:`);
      lines.push(`        ${this.amqp.connectionString}`, '');
    }
    lines.push(
      `Host started on ${this.baseUrl} (state in ${data}/local-host.sqlite). Press Ctrl+C to stop.`,
      '',
    );
    this.log.banner(lines);
  }
}

function loadAppMeta(appDir: string): Omit<LoadedApp, 'registry'> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { readHostJson } = require('./host-json') as typeof import('./host-json');
  return { appDir, entryFiles: [], hostJson: readHostJson(appDir) };
}
