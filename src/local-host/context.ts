/** What every part of the local host is given, and what it gives back. */
import type Database from 'better-sqlite3';
import type * as http from 'node:http';
import type { HostJson } from './host-json';
import type { HostLogger } from './log';
import type { FunctionRegistry, Registration, RpcBindingInfo, RpcTypedData } from './worker/core';
import type { Invoker } from './worker/invoker';

export interface HostContext {
  appDir: string;
  dataDir: string;
  registry: FunctionRegistry;
  invoker: Invoker;
  /** One SQLite connection (WAL) shared by every component; each owns its own tables. */
  db: Database.Database;
  hostJson: HostJson;
  log: HostLogger;
  /** The app settings (process.env after local.settings.json `Values` were applied). */
  env: NodeJS.ProcessEnv;
  /** `http://127.0.0.1:PORT` once the HTTP server listens. */
  baseUrl(): string;
  /** Routes raw HTTP requests under a path prefix (e.g. `/runtime/webhooks/durabletask/`) to a component. */
  mountHttp(prefix: string, handler: RawHttpHandler): void;
  /** Handles values written to output bindings of `type` (e.g. `serviceBus`). */
  handleOutput(type: string, handler: OutputHandler): void;
}

export type RawHttpHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>;

/** Receives one output binding's value after a successful invocation. */
export type OutputHandler = (
  binding: RpcBindingInfo,
  data: RpcTypedData,
  reg: Registration,
) => void | Promise<void>;

export interface HostComponent {
  readonly name: string;
  start(): Promise<void> | void;
  /** Stop taking new work and let in-flight work finish until `deadline` (epoch ms). */
  stop(deadline: number): Promise<void> | void;
  /** A one-line description of a function this component triggers, for the start-up listing. */
  describe?(reg: Registration): string | undefined;
}
