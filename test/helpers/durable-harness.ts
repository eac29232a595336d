/** Runs a fixture app's durable functions on a DurableHub without HTTP (engine-level tests). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Database from 'better-sqlite3';
import { loadApp } from '../../src/local-host/app-loader';
import type { HostContext } from '../../src/local-host/context';
import { DurableHub } from '../../src/local-host/durable/hub';
import { openDatabase } from '../../src/local-host/database';
import { readHostJson } from '../../src/local-host/host-json';
import { silentLogger } from '../../src/local-host/log';
import { FunctionRegistry } from '../../src/local-host/worker/core';
import { Invoker } from '../../src/local-host/worker/invoker';

export const DURABLE_APP = path.resolve(__dirname, '../fixtures/apps/durable-app');

let registry: FunctionRegistry | undefined;

export function fixtureRegistry(appDir = DURABLE_APP): FunctionRegistry {
  registry ??= loadApp(appDir, new FunctionRegistry()).registry;
  return registry;
}

export function tempDir(prefix = 'lh-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Harness {
  hub: DurableHub;
  db: Database.Database;
  dataDir: string;
  close(): Promise<void>;
}

export function startHub(dataDir = tempDir(), appDir = DURABLE_APP): Harness {
  const reg = fixtureRegistry(appDir);
  const db = openDatabase(path.join(dataDir, 'local-host.sqlite'));
  const invoker = new Invoker(reg, { appDir, log: () => undefined });
  const ctx: HostContext = {
    appDir,
    dataDir,
    registry: reg,
    invoker,
    db,
    hostJson: readHostJson(appDir),
    log: silentLogger,
    env: process.env,
    baseUrl: () => 'http://127.0.0.1:1',
    mountHttp: () => undefined,
    handleOutput: () => undefined,
  };
  const hub = new DurableHub(ctx);
  hub.start();
  return {
    hub,
    db,
    dataDir,
    close: async () => {
      await hub.stop(Date.now() + 5000);
      db.close();
    },
  };
}

export async function waitFor<T>(
  fn: () => T | undefined | false,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function completion(
  hub: DurableHub,
  id: string,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  await hub.waitForCompletion(id, timeoutMs);
  return hub.getStatus(id, { showHistory: true })!;
}
