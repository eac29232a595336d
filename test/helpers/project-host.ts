/**
 * The project's own Functions app on an in-process local host, loaded from its TypeScript sources
 * (dist may be stale under jest), with the offline model and a temporary SQLite catalog.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setAgentServiceForTests } from '../../src/app';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger } from '../../src/local-host/log';

const ROOT = path.resolve(__dirname, '../..');

export interface ProjectHost {
  host: LocalHost;
  base: string;
  tmp: string;
  /** fetch with a JSON body (strings are sent as they are). */
  send(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  stop(): Promise<void>;
}

export async function startProjectHost(name: string, env: Record<string, string> = {}): Promise<ProjectHost> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const appDir = path.join(tmp, 'app');
  fs.mkdirSync(appDir);
  fs.writeFileSync(
    path.join(appDir, 'package.json'),
    JSON.stringify({ name, private: true, main: path.join(ROOT, 'functions', 'index.ts') }),
  );
  fs.copyFileSync(path.join(ROOT, 'host.json'), path.join(appDir, 'host.json'));
  const settings: Record<string, string> = {
    LLM_PROVIDER: 'offline',
    CATALOG_STORE: 'sqlite',
    OFFLINE_LATENCY_MS: '0',
    OFFLINE_TOKEN_DELAY_MS: '0',
    CATALOG_SQLITE_PATH: path.join(tmp, 'db', 'catalog.sqlite'),
    ...env,
  };
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(settings)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const host = new LocalHost({
    appDir,
    port: 0,
    dataDir: path.join(tmp, 'data'),
    logger: silentLogger,
    printFunctions: false,
  });
  await host.start();
  const base = host.baseUrl;
  return {
    host,
    base,
    tmp,
    send: (method, route, body, headers = {}) =>
      fetch(`${base}${route}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }),
    stop: async () => {
      await host.stop();
      setAgentServiceForTests(); // closes the catalog
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
