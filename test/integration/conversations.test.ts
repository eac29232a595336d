/**
 * Conversations end to end on the local host (the project's app, offline model, SQLite stores): the
 * seed's run endpoint with one durable actor per conversation — 50 concurrent requests on one
 * conversation keep every turn paired with its reply, none lost, run strictly one after the other;
 * conversations stay apart; reads, deletes (store and entity), streaming, messaging, bad input; and a
 * host restart keeps everything.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger } from '../../src/local-host/log';
import { bodyOf, problemOf, startProjectHost, type ProjectHost } from '../helpers/project-host';

let project: ProjectHost;
let base: string;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conversations-store-'));
  project = await startProjectHost('conversations', {
    CONVERSATION_SQLITE_PATH: path.join(dir, 'conversations.sqlite'),
  });
  base = project.base;
});
afterAll(async () => {
  await project.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface RunBody {
  messages: { role: string; content: string; message_id: string }[];
  status: string;
  conversation_id: string;
  turn_id: string;
  usage: { prompt: number; completion: number; total: number };
}

const say = (agent: string, content: string, conversationId?: string) =>
  project.send('POST', `/api/agents/${agent}/run`, {
    messages: [{ role: 'user', content }],
    ...(conversationId !== undefined && { conversation_id: conversationId }),
  });

async function run(agent: string, content: string, conversationId?: string): Promise<RunBody> {
  const res = await say(agent, content, conversationId);
  const body = await bodyOf(res);
  if (res.status !== 200) throw new Error(`run answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

const conversation = (id: string) => bodyOf(project.send('GET', `/api/conversations/${id}`));
const entity = async (agent: string, id: string) => {
  const res = await fetch(`${base}/runtime/webhooks/durabletask/entities/conversation/${agent}@${id}`);
  return { status: res.status, state: (await res.json()) as any };
};

/**
 * The transcript is question/answer pairs, each answer the echo of its own question (and the reply
 * the request got); each turn saw every earlier one: the prompt grows with every turn, in transcript
 * order, which could not happen if two turns had run side by side.
 */
function expectSerialPairs(transcript: any, replies: RunBody[], questions: string[]): void {
  const messages = transcript.messages as {
    role: string;
    content: string;
    message_id: string;
    seq: number;
  }[];
  expect(messages).toHaveLength(questions.length * 2);
  expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
  const byReply = new Map(replies.map((r) => [r.messages[0]!.message_id, r]));
  let lastPrompt = 0;
  for (let i = 0; i < messages.length; i += 2) {
    const [question, answer] = [messages[i]!, messages[i + 1]!];
    expect([question.role, answer.role]).toEqual(['user', 'assistant']);
    expect(answer.content).toBe(question.content);
    const reply = byReply.get(answer.message_id)!;
    expect(reply.messages[0]!.content).toBe(question.content);
    expect(reply.usage.prompt).toBeGreaterThan(lastPrompt);
    lastPrompt = reply.usage.prompt;
  }
  expect(
    messages
      .filter((m) => m.role === 'user')
      .map((m) => m.content)
      .sort(),
  ).toEqual([...questions].sort());
}

describe('POST /api/agents/{name}/run', () => {
  it("answers the seed's shape; without conversation_id a new conversation is made", async () => {
    const res = await say('echo', 'Hello! How are you?');
    expect(res.status).toBe(200);
    const body = await bodyOf(res);
    expect(body).toEqual({
      messages: [{ role: 'assistant', content: 'Hello! How are you?', message_id: expect.any(String) }],
      status: 'completed',
      conversation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      turn_id: expect.any(String),
      usage: { prompt: expect.any(Number), completion: expect.any(Number), total: expect.any(Number) },
    });
    const other = await run('echo', 'Hello! How are you?');
    expect(other.conversation_id).not.toBe(body.conversation_id);
  });

  it('keeps every one of 50 concurrent turns on one conversation paired with its reply, run one at a time', async () => {
    const first = await run('echo', 'turn opener', 'busy-1');
    const questions = Array.from({ length: 50 }, (_, i) => `concurrent turn ${i}`);
    const t0 = Date.now();
    const responses = await Promise.all(questions.map((q) => say('echo', q, 'busy-1')));
    const elapsed = Date.now() - t0;
    expect(responses.map((r) => r.status)).toEqual(questions.map(() => 200));
    const replies: RunBody[] = await Promise.all(responses.map((r) => r.json() as Promise<RunBody>));
    replies.forEach((r, i) => expect(r.messages[0]!.content).toBe(questions[i]));
    expect(new Set(replies.map((r) => r.turn_id)).size).toBe(50);
    expectSerialPairs(await conversation('busy-1'), [first, ...replies], ['turn opener', ...questions]);
    // The actor is idle again: no holder, nothing queued, the whole conversation in its memory.
    const { state } = await entity('echo', 'busy-1');
    expect(state).toMatchObject({ queue: [], turns: 51, failedTurns: 0 });
    expect(state.holder).toBeUndefined();
    expect(state.memory.messages).toHaveLength(102);
    expect(elapsed).toBeLessThan(20_000);
  });

  it('keeps conversations apart under concurrent turns, across agents too', async () => {
    const ids = ['apart-a', 'apart-b', 'apart-c'];
    const questions = (id: string) => Array.from({ length: 12 }, (_, i) => `${id} question ${i}`);
    const replies = await Promise.all(
      ids.flatMap((id) => questions(id).map((q) => run('echo', q, id).then((r) => ({ id, r })))),
    );
    const scribe = await run('scribe', 'Write a short README for a todo API', 'apart-scribe');
    for (const id of ids) {
      const mine = replies.filter((x) => x.id === id).map((x) => x.r);
      expect(mine.every((r) => r.conversation_id === id)).toBe(true);
      expectSerialPairs(await conversation(id), mine, questions(id));
    }
    const doc = await conversation('apart-scribe');
    expect(doc).toMatchObject({ agent: 'scribe', turns: 1 });
    expect(doc.messages[1].content).toBe(scribe.messages[0]!.content);
    expect(scribe.messages[0]!.content).toMatch(/todo/i);
  });

  it('answers bad input with 400/404/409 problem+json', async () => {
    const cases: [unknown, number, string][] = [
      [{ messages: [] }, 400, 'REQUEST.INVALID'],
      [{ messages: [{ role: 'robot', content: 'hi' }] }, 400, 'REQUEST.INVALID'],
      [{ messages: [{ role: 'user' }] }, 400, 'REQUEST.INVALID'],
      [{ messages: [{ role: 'assistant', content: 'hi' }] }, 400, 'REQUEST.INVALID'],
      ['{"messages": [', 400, 'REQUEST.MALFORMED_JSON'],
    ];
    for (const [body, status, code] of cases) {
      const p = await problemOf(await project.send('POST', '/api/agents/echo/run', body), status);
      expect(p.code).toBe(code);
    }
    const unknown = await problemOf(await say('no-such-agent', 'hello'), 404);
    expect(unknown.code).toBe('AGENT.UNKNOWN');
    await run('echo', 'mine', 'owned-by-echo');
    expect((await problemOf(await say('architect', 'hello', 'owned-by-echo'), 409)).code).toBe(
      'CONVERSATION.AGENT_MISMATCH',
    );
    expect((await problemOf(await project.send('GET', '/api/conversations/nope'), 404)).code).toBe(
      'CONVERSATION.NOT_FOUND',
    );
    await problemOf(await project.send('DELETE', '/api/conversations/nope'), 404);
  });
});

describe('GET and DELETE /api/conversations/{id}', () => {
  it('shows history and token totals; delete purges the transcript and the entity', async () => {
    const a = await run('echo', 'first words', 'to-delete');
    const b = await run('echo', 'second words', 'to-delete');
    const view = await conversation('to-delete');
    expect(view).toMatchObject({
      conversation_id: 'to-delete',
      agent: 'echo',
      turns: 2,
      failed_turns: 0,
      tokens: {
        prompt: a.usage.prompt + b.usage.prompt,
        completion: a.usage.completion + b.usage.completion,
        total: a.usage.total + b.usage.total,
      },
      memory: { summarized_through: 0 },
    });
    expect(view.messages.map((m: any) => m.content)).toEqual([
      'first words',
      'first words',
      'second words',
      'second words',
    ]);
    expect((await entity('echo', 'to-delete')).status).toBe(200);

    expect((await project.send('DELETE', '/api/conversations/to-delete')).status).toBe(204);
    await problemOf(await project.send('GET', '/api/conversations/to-delete'), 404);
    await project.host.durable.whenIdle();
    expect((await entity('echo', 'to-delete')).status).toBe(404);
    // The id starts afresh: no memory of the deleted turns.
    const again = await run('echo', 'first words', 'to-delete');
    expect(again.usage.prompt).toBe(a.usage.prompt);
    expect((await conversation('to-delete')).turns).toBe(1);
  });
});

describe('POST /api/agents/{name}/run/stream', () => {
  it('streams the same turn: turn, deltas, then the result the run endpoint would answer', async () => {
    await run('echo', 'before the stream', 'streamed');
    const content = 'Stream this sentence back to me, word by word, please.';
    const res = await fetch(`${base}/api/agents/echo/run/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'streamed', messages: [{ role: 'user', content }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-conversation-id')).toBe('streamed');
    const text = await res.text();
    const blocks = text
      .split('\n\n')
      .filter((b) => b.includes('data: '))
      .map((b) => ({
        event: /event: (\w+)/.exec(b)![1],
        data: JSON.parse(b.slice(b.indexOf('data: ') + 6)),
      }));
    expect(blocks[0]).toMatchObject({ event: 'turn', data: { conversation_id: 'streamed' } });
    expect(blocks.at(-1)).toMatchObject({
      event: 'result',
      data: { status: 'completed', messages: [{ role: 'assistant', content }] },
    });
    const deltas = blocks.filter((b) => b.event === 'delta').map((b) => b.data.delta);
    expect(deltas.join('')).toBe(content);
    const view = await conversation('streamed');
    expect(view.messages.slice(-2).map((m: any) => m.content)).toEqual([content, content]);
  });

  it('answers bad input before the stream starts', async () => {
    const res = await project.send('POST', '/api/agents/echo/run/stream', { messages: [] });
    await problemOf(res, 400);
    await problemOf(
      await project.send('POST', '/api/agents/ghost/run/stream', {
        messages: [{ role: 'user', content: 'x' }],
      }),
      404,
    );
  });
});

describe('messaging between agents', () => {
  it("delivers a message into the agent's inbox conversation, records it, and the agent answers there", async () => {
    const res = await project.send('POST', '/api/v1/agents/echo/message', {
      content: 'deploy at noon',
      sender: 'planner',
    });
    expect(res.status).toBe(202);
    const accepted = await bodyOf(res);
    expect(accepted).toMatchObject({
      status: 'sent',
      agent: 'echo',
      conversation_id: 'inbox-echo',
      sender: 'planner',
    });
    await project.host.durable.whenIdle();
    const inbox = await conversation('inbox-echo');
    expect(inbox.messages.map((m: any) => [m.role, m.content, m.sender])).toEqual([
      ['user', 'deploy at noon', 'planner'],
      ['assistant', 'deploy at noon', undefined],
    ]);
    const list = await bodyOf(project.send('GET', '/api/v1/agents/echo/messages'));
    expect(list.items[0]).toMatchObject({ message_id: accepted.message_id, turn_id: accepted.turn_id });
  });

  it('broadcasts to every agent matching a filter, one delivery each', async () => {
    const res = await project.send('POST', '/api/v1/agents/broadcast', {
      payload: { event: 'release', version: '1.2.0' },
      sender: 'ci',
      filter: { agents: ['echo', 'validator'] },
    });
    expect(res.status).toBe(202);
    const body = await bodyOf(res);
    expect(body.deliveries.map((d: any) => d.agent).sort()).toEqual(['echo', 'validator']);
    await project.host.durable.whenIdle();
    const validator = await conversation('inbox-validator');
    expect(validator.messages[0]).toMatchObject({
      content: '{"event":"release","version":"1.2.0"}',
      sender: 'ci',
    });
    expect(validator.turns).toBe(1);
    await problemOf(await project.send('POST', '/api/v1/agents/ghost/message', { content: 'hi' }), 404);
  });
});

describe('a host restart', () => {
  it('keeps conversations: transcript, actor memory, and the next turn sees the earlier ones', async () => {
    const a = await run('echo', 'remember me', 'durable-1');
    await run('echo', 'and me', 'durable-1');
    const appDir = path.join(project.tmp, 'app');
    const dataDir = path.join(project.tmp, 'data');
    const registry = project.host.app.registry;
    await project.host.stop();

    const restarted = new LocalHost({
      appDir,
      dataDir,
      port: 0,
      logger: silentLogger,
      printFunctions: false,
      registry,
    });
    await restarted.start();
    try {
      const send = (method: string, route: string, body?: unknown) =>
        fetch(`${restarted.baseUrl}${route}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const view = await bodyOf(send('GET', '/api/conversations/durable-1'));
      expect(view.messages.map((m: any) => m.content)).toEqual([
        'remember me',
        'remember me',
        'and me',
        'and me',
      ]);
      const res = await send('POST', '/api/agents/echo/run', {
        conversation_id: 'durable-1',
        messages: [{ role: 'user', content: 'remember me' }],
      });
      const c = await bodyOf(res);
      expect(res.status).toBe(200);
      // The same question with two earlier turns in memory: a longer prompt than the first time.
      expect(c.usage.prompt).toBeGreaterThan(a.usage.prompt);
      const state: any = await (
        await fetch(`${restarted.baseUrl}/runtime/webhooks/durabletask/entities/conversation/echo@durable-1`)
      ).json();
      expect(state.memory.messages).toHaveLength(6);
      expect((await bodyOf(send('GET', '/api/conversations/busy-1'))).turns).toBe(51);
    } finally {
      await restarted.stop();
    }
  });
});
