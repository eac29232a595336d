/**
 * Idle expiry on the local host: the `conversationsExpire` timer (every second here) deletes
 * conversations idle for CONVERSATION_TTL_SECONDS, transcript and entity, and leaves active ones.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bodyOf, startProjectHost, type ProjectHost } from '../helpers/project-host';

let project: ProjectHost;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conversations-expiry-'));
  project = await startProjectHost('conversations-expiry', {
    CONVERSATION_SQLITE_PATH: path.join(dir, 'conversations.sqlite'),
    CONVERSATION_TTL_SECONDS: '2',
    CONVERSATION_EXPIRY_SCHEDULE: '* * * * * *',
  });
});
afterAll(async () => {
  await project.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (id: string, content: string) =>
  project.send('POST', '/api/agents/echo/run', {
    conversation_id: id,
    messages: [{ role: 'user', content }],
  });
const entityStatus = async (id: string) =>
  (await fetch(`${project.base}/runtime/webhooks/durabletask/entities/conversation/echo@${id}`)).status;

it('deletes idle conversations with their actor and keeps the active ones', async () => {
  expect((await say('idle-one', 'hello')).status).toBe(200);
  expect((await say('active-one', 'hello')).status).toBe(200);
  expect(await entityStatus('idle-one')).toBe(200);
  const deadline = Date.now() + 12_000;
  let idleGone = false;
  while (Date.now() < deadline && !idleGone) {
    // active-one speaks every 200 ms: never idle for the 2 s TTL, even on a loaded machine.
    expect((await say('active-one', 'still here')).status).toBe(200);
    idleGone = (await project.send('GET', '/api/conversations/idle-one')).status === 404;
    await sleep(200);
  }
  expect(idleGone).toBe(true);
  await project.host.durable.whenIdle();
  expect(await entityStatus('idle-one')).toBe(404);
  const active = await bodyOf(project.send('GET', '/api/conversations/active-one'));
  expect(active.turns).toBeGreaterThan(1);
  expect(await entityStatus('active-one')).toBe(200);
});
