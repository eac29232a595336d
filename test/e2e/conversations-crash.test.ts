/**
 * Conversations under crashes: a child local host runs the project's compiled app (dist/) with a slow
 * offline model; 30 turns are sent at once to one conversation, the host is SIGKILLed twice while the
 * turns run, and restarted on the same data each time. Required: every accepted turn ends in the
 * transcript exactly once, question next to its own answer; transcript and actor memory agree message
 * by message; the actor ends idle (no lease held, nothing queued).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DIST, ROOT, spawnHost, waitForHttp, type ChildHost } from '../helpers/child-host';

const TURNS = 30;
const MAIN = path.join(DIST, 'functions', 'index.js');

let tmp: string;
let appDir: string;
let host: ChildHost | undefined;
beforeAll(() => {
  if (!fs.existsSync(MAIN) || !fs.existsSync(path.join(DIST, 'functions', 'conversations.js'))) {
    throw new Error(`${MAIN} (with conversations) is missing: run npm run build first`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conversations-crash-'));
  appDir = path.join(tmp, 'app');
  fs.mkdirSync(appDir);
  fs.writeFileSync(
    path.join(appDir, 'package.json'),
    JSON.stringify({ name: 'crash', private: true, main: MAIN }),
  );
  fs.copyFileSync(path.join(ROOT, 'host.json'), path.join(appDir, 'host.json'));
});
afterAll(async () => {
  await host?.stop('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

const env = (): NodeJS.ProcessEnv => ({
  LLM_PROVIDER: 'offline',
  OFFLINE_LATENCY_MS: '60',
  CATALOG_SQLITE_PATH: path.join(tmp, 'db', 'catalog.sqlite'),
  RUN_SQLITE_PATH: path.join(tmp, 'db', 'runs.sqlite'),
  CONVERSATION_SQLITE_PATH: path.join(tmp, 'db', 'conversations.sqlite'),
});

async function start(): Promise<ChildHost> {
  const h = await spawnHost(appDir, path.join(tmp, 'data'), env());
  await waitForHttp(`${h.baseUrl}/api/health`);
  return h;
}

const getJson = async (url: string): Promise<any> => (await fetch(url)).json();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const turnsDone = (h: ChildHost) => async () =>
  ((await getJson(`${h.baseUrl}/api/conversations/crashy`)) as { turns?: number }).turns;

it('keeps every accepted turn, once and paired, through two SIGKILLs', async () => {
  host = await start();
  const questions = Array.from({ length: TURNS }, (_, i) => `question number ${i}`);
  const requests = questions.map((content) =>
    fetch(`${host!.baseUrl}/api/agents/echo/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'crashy', messages: [{ role: 'user', content }] }),
    }).catch(() => undefined),
  );
  // Every turn accepted (its orchestration committed) before the first kill.
  await until(async () => {
    const list = (await getJson(`${host!.baseUrl}/runtime/webhooks/durabletask/instances`)) as unknown[];
    return list.length >= TURNS ? true : undefined;
  }, 'all turns to be accepted');
  await until(async () => ((await turnsDone(host!)()) ?? 0) >= 5 || undefined, 'a few turns');
  await host.stop('SIGKILL');
  await Promise.all(requests);

  host = await start();
  const before = (await turnsDone(host)()) ?? 0;
  expect(before).toBeLessThan(TURNS); // the kill did land while turns were running
  const more = Math.min(before + 5, TURNS);
  await until(async () => ((await turnsDone(host!)()) ?? 0) >= more || undefined, 'more turns');
  await host.stop('SIGKILL');

  host = await start();
  await until(async () => ((await turnsDone(host!)()) === TURNS ? true : undefined), `all ${TURNS} turns`);
  const view = await getJson(`${host.baseUrl}/api/conversations/crashy`);
  const messages = view.messages as { role: string; content: string; message_id: string; seq: number }[];
  expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 * TURNS }, (_, i) => i + 1));
  for (let i = 0; i < messages.length; i += 2) {
    expect([messages[i]!.role, messages[i + 1]!.role]).toEqual(['user', 'assistant']);
    expect(messages[i + 1]!.content).toBe(messages[i]!.content);
  }
  expect(
    messages
      .filter((m) => m.role === 'user')
      .map((m) => m.content)
      .sort(),
  ).toEqual([...questions].sort());
  // Settle: the lease holder gives the lease back after the last turn.
  const state = await until(async () => {
    const s = await getJson(
      `${host!.baseUrl}/runtime/webhooks/durabletask/entities/conversation/echo@crashy`,
    );
    return s.holder === undefined && s.queue.length === 0 ? s : undefined;
  }, 'the actor to be idle');
  expect(state.memory.messages.map((m: { id: string }) => m.id)).toEqual(messages.map((m) => m.message_id));
  expect(state).toMatchObject({ turns: TURNS, failedTurns: 0 });
  await host.stop();
  host = undefined;
});
