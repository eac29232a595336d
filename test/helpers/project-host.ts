/**
 * The project's own Functions app on an in-process local host, loaded from its TypeScript sources
 * (dist may be stale under jest), with the offline model and temporary SQLite catalog and run stores.
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

export async function startProjectHost(
  name: string,
  env: Record<string, string> = {},
  options: { amqp?: boolean } = {},
): Promise<ProjectHost> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const appDir = path.join(tmp, 'app');
  fs.mkdirSync(appDir);
  fs.writeFileSync(
    path.join(appDir, 'package.json'),
    JSON.stringify({ name, private: true, main: path.join(ROOT, 'functions', 'index.ts') }),
  );
  fs.copyFileSync(path.join(ROOT, 'host.json'), path.join(appDir, 'host.json'));
  fs.copyFileSync(
    path.join(ROOT, 'servicebus-emulator.config.json'),
    path.join(appDir, 'servicebus-emulator.config.json'),
  );
  const settings: Record<string, string> = {
    LLM_PROVIDER: 'offline',
    CATALOG_STORE: 'sqlite',
    OFFLINE_LATENCY_MS: '0',
    OFFLINE_TOKEN_DELAY_MS: '0',
    CATALOG_SQLITE_PATH: path.join(tmp, 'db', 'catalog.sqlite'),
    RUN_SQLITE_PATH: path.join(tmp, 'db', 'runs.sqlite'),
    CONVERSATION_SQLITE_PATH: path.join(tmp, 'db', 'conversations.sqlite'),
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
    ...(options.amqp && { amqpPort: 0 }),
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

/** Run events from an SSE body (`data:` holds the RunEvent). */
export function parseRunEvents(text: string): { id: number; type: string; stepId?: string; data?: any }[] {
  const events: { id: number; type: string; stepId?: string; data?: any }[] = [];
  for (const block of text.split(/\n\n/)) {
    const data = block.split('\n').find((l) => l.startsWith('data: '));
    if (data) events.push(JSON.parse(data.slice(6)));
  }
  return events;
}

/** A response's JSON body, untyped (tests assert on its shape). */
export async function bodyOf(res: Response | Promise<Response>): Promise<any> {
  return (await res).json();
}

/** A run's record once `until` holds (polled over HTTP); fails the test with the record after `timeoutMs`. */
export async function waitForRun(
  project: ProjectHost,
  id: string,
  until: (run: any) => boolean,
  timeoutMs = 10_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await bodyOf(project.send('GET', `/api/v1/runs/${id}`));
    if (until(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${id} stuck: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const isFinished = (run: { status: string }): boolean =>
  ['completed', 'failed', 'cancelled'].includes(run.status);

/** One SSE block as it came over the wire: its fields, comments and the RunEvent its `data:` holds. */
export interface SseBlock {
  raw: string;
  id?: string;
  event?: string;
  retry?: string;
  comments: string[];
  data?: any;
}

export interface SseRead {
  status: number;
  headers: Headers;
  blocks: SseBlock[];
  /** The RunEvents (`data:` of each block that has one), in arrival order. */
  events: { id: number; type: string; stepId?: string; data?: any; runId: string; at: string }[];
  /** Whether the server ended the stream (false when the reader aborted it). */
  ended: boolean;
}

function parseBlock(raw: string): SseBlock {
  const block: SseBlock = { raw, comments: [] };
  for (const line of raw.split('\n')) {
    if (line.startsWith(':')) block.comments.push(line.slice(1).trim());
    else if (line.startsWith('id: ')) block.id = line.slice(4);
    else if (line.startsWith('event: ')) block.event = line.slice(7);
    else if (line.startsWith('retry: ')) block.retry = line.slice(7);
    else if (line.startsWith('data: ')) block.data = JSON.parse(line.slice(6));
  }
  return block;
}

/**
 * Reads an SSE response block by block, as a browser's EventSource would, until the server ends it or
 * `stop` (asked after every block) says enough: then the connection is aborted, like a client that
 * goes away. Fails after `timeoutMs` with what it read.
 */
export async function readSse(
  url: string,
  options: { headers?: Record<string, string>; stop?: (read: SseRead) => boolean; timeoutMs?: number } = {},
): Promise<SseRead> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: options.headers, signal: controller.signal });
  const read: SseRead = { status: res.status, headers: res.headers, blocks: [], events: [], ended: false };
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000);
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        read.ended = true;
        return read;
      }
      buffer += decoder.decode(value, { stream: true });
      for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
        const block = parseBlock(buffer.slice(0, at));
        buffer = buffer.slice(at + 2);
        read.blocks.push(block);
        if (block.data !== undefined) read.events.push(block.data);
        if (options.stop?.(read)) {
          controller.abort();
          return read;
        }
      }
    }
  } catch (err) {
    if (controller.signal.aborted) {
      throw new Error(`SSE ${url} timed out; read ${JSON.stringify(read.blocks.map((b) => b.raw))}`);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** A run event as the API answers it. */
export type RunEventView = SseRead['events'][number];

/** A problem+json answer with this status; its body. */
export async function problemOf(res: Response, status: number): Promise<any> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = await bodyOf(res);
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^urn:agent-functions:problem:/) });
  return body;
}

/** The runs API of a project host, as the tests use it. */
export function runsClient(project: ProjectHost) {
  const client = {
    /** Starts a run (202 expected) and returns its id. */
    async start(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
      const res = await project.send('POST', '/api/v1/runs', body, headers);
      const json = await bodyOf(res);
      if (res.status !== 202) throw new Error(`start answered ${res.status}: ${JSON.stringify(json)}`);
      return json.id;
    },
    waitForRun: (id: string, until: (run: any) => boolean = isFinished): Promise<any> =>
      waitForRun(project, id, until),
    /** Starts a run and waits for it to finish. */
    async runToEnd(body: Record<string, unknown>): Promise<any> {
      return client.waitForRun(await client.start(body));
    },
    /** The whole event log, as the JSON page of the events endpoint. */
    async eventsOf(id: string): Promise<RunEventView[]> {
      const res = await fetch(`${project.base}/api/v1/runs/${id}/events`, {
        headers: { accept: 'application/json' },
      });
      expect(res.status).toBe(200);
      const page = await bodyOf(res);
      expect(page.lastId).toBe(page.items.at(-1)?.id ?? 0);
      return page.items;
    },
    /** A step's output text (200 text/plain expected). */
    async outputOf(runId: string, stepId: string): Promise<string> {
      const res = await fetch(`${project.base}/api/v1/runs/${runId}/steps/${stepId}/output`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      return res.text();
    },
  };
  return client;
}

const STEP_END = ['step.completed', 'step.failed', 'step.cancelled'];
const RUN_END = ['run.completed', 'run.failed', 'run.cancelled'];

/**
 * A well-formed run event log: ids 1..n without gaps, times never going back, run.started first, one
 * terminal event and it is last; per step, either one step.skipped, or step.started first and exactly
 * one end (only budget.exceeded may follow it).
 */
export function expectWellFormedLog(events: RunEventView[], terminal: string): void {
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  for (let i = 1; i < events.length; i++) expect(events[i]!.at >= events[i - 1]!.at).toBe(true);
  expect(events[0]!.type).toBe('run.started');
  expect(events.filter((e) => RUN_END.includes(e.type)).map((e) => e.type)).toEqual([terminal]);
  expect(events.at(-1)!.type).toBe(terminal);
  const stepIds = new Set(events.filter((e) => e.stepId !== undefined).map((e) => e.stepId!));
  for (const stepId of stepIds) {
    const types = events.filter((e) => e.stepId === stepId).map((e) => e.type);
    if (types.includes('step.skipped')) {
      expect(types).toEqual(['step.skipped']);
      continue;
    }
    expect(types[0]).toBe('step.started');
    const ends = types.filter((t) => STEP_END.includes(t));
    expect(ends).toHaveLength(1);
    const tail = types.slice(types.indexOf(ends[0]!) + 1);
    expect(tail.every((t) => t === 'budget.exceeded')).toBe(true);
  }
}
