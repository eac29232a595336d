/**
 * The ConversationStore contract, run against every adapter (memory, SQLite, Cosmos DB on
 * cosmosdb-server): one conversation per id and agent, gapless seqs in turn order, turns recorded once
 * (first write wins), epochs that keep a deleted conversation's turns out of a new one, idle listing and
 * conditional deletion, deliveries.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConversationStore, NewTurn } from '../../src/store/conversations';
import { CosmosConversationStore } from '../../src/store/cosmos/conversations';
import { MemoryConversationStore } from '../../src/store/memory-conversations';
import { SqliteConversationStore } from '../../src/store/sqlite-conversations';
import { startCosmosServer, type CosmosTestServer } from '../helpers/cosmos-server';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-conversations-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

let cosmos: CosmosTestServer;
beforeAll(async () => (cosmos = await startCosmosServer()));
afterAll(() => cosmos.close());

const adapters: [string, () => ConversationStore][] = [
  ['memory', () => new MemoryConversationStore()],
  ['sqlite', () => new SqliteConversationStore(path.join(dir, 'conversations.sqlite'))],
  [
    'cosmos',
    () => new CosmosConversationStore({ client: cosmos.client(), database: cosmos.freshDatabase() }),
  ],
];

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

const completed = (n: number, extra: Partial<NewTurn> = {}): NewTurn => ({
  turnId: `t${n}`,
  status: 'completed',
  input: [{ id: `u${n}`, role: 'user', content: `question ${n}` }],
  reply: { id: `a${n}`, content: `answer ${n}` },
  usage: { prompt: 10, completion: 5, total: 15 },
  model: 'offline-1',
  ...extra,
});

describe.each(adapters)('ConversationStore contract: %s', (_name, open) => {
  let store: ConversationStore;
  beforeEach(() => (store = open()));
  afterEach(() => store.close?.());

  it('opens a new conversation once and answers the same record after', async () => {
    const first = await store.open('c1', 'echo');
    expect(first.created).toBe(true);
    expect(first.conversation).toMatchObject({
      id: 'c1',
      agentId: 'echo',
      turns: 0,
      failedTurns: 0,
      messages: 0,
      tokens: { prompt: 0, completion: 0, total: 0 },
      epoch: expect.stringMatching(/^\d{4}-.*#[0-9a-f]{8}$/),
    });
    const again = await store.open('c1', 'echo');
    expect(again).toEqual({ conversation: first.conversation, created: false });
    expect(await store.get('c1')).toEqual(first.conversation);
    expect(await store.get('missing')).toBeUndefined();
  });

  it('refuses a conversation of another agent with CONVERSATION.AGENT_MISMATCH', async () => {
    await store.open('c1', 'echo');
    await expect(store.open('c1', 'architect')).rejects.toMatchObject({
      code: 'CONVERSATION.AGENT_MISMATCH',
      status: 409,
    });
  });

  it('makes one conversation of concurrent opens', async () => {
    const opened = await Promise.all(Array.from({ length: 8 }, () => store.open('race', 'echo')));
    expect(opened.filter((o) => o.created)).toHaveLength(1);
    expect(new Set(opened.map((o) => o.conversation.epoch)).size).toBe(1);
  });

  it('records turns with gapless seqs, the reply last, and moves the totals on', async () => {
    const { conversation } = await store.open('c1', 'echo');
    await tick();
    const t1 = await store.recordTurn('c1', conversation.epoch, completed(1));
    expect(t1).toMatchObject({
      turnId: 't1',
      status: 'completed',
      messageIds: ['u1', 'a1'],
      reply: { id: 'a1', seq: 2, role: 'assistant', content: 'answer 1', turnId: 't1' },
      usage: { prompt: 10, completion: 5, total: 15 },
      model: 'offline-1',
    });
    const two = completed(2, {
      input: [
        { id: 'u2a', role: 'user', content: 'first' },
        { id: 'u2b', role: 'assistant', content: 'an earlier answer' },
        { id: 'u2c', role: 'user', content: 'second' },
      ],
    });
    await store.recordTurn('c1', conversation.epoch, two);
    const messages = await store.listMessages('c1');
    expect(messages.map((m) => [m.seq, m.id, m.role])).toEqual([
      [1, 'u1', 'user'],
      [2, 'a1', 'assistant'],
      [3, 'u2a', 'user'],
      [4, 'u2b', 'assistant'],
      [5, 'u2c', 'user'],
      [6, 'a2', 'assistant'],
    ]);
    expect(await store.listMessages('c1', { afterSeq: 2, limit: 2 })).toEqual(messages.slice(2, 4));
    const after = await store.get('c1');
    expect(after).toMatchObject({ turns: 2, messages: 6, tokens: { prompt: 20, completion: 10, total: 30 } });
    expect(after!.lastActiveAt > conversation.lastActiveAt).toBe(true);
    expect(after!.createdAt).toBe(conversation.createdAt);
  });

  it('records a turn once: a repeat answers the first write and adds nothing', async () => {
    const { conversation } = await store.open('c1', 'echo');
    const first = await store.recordTurn('c1', conversation.epoch, completed(1));
    const repeat = await store.recordTurn(
      'c1',
      conversation.epoch,
      completed(1, { reply: { id: 'a1-other', content: 'a different answer' } }),
    );
    expect(repeat).toEqual(first);
    expect(await store.getTurn('c1', 't1')).toEqual(first);
    expect((await store.listMessages('c1')).map((m) => m.id)).toEqual(['u1', 'a1']);
    expect(await store.get('c1')).toMatchObject({ turns: 1, messages: 2 });
  });

  it('keeps every turn of concurrent writers, each seq once', async () => {
    const { conversation } = await store.open('c1', 'echo');
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.recordTurn('c1', conversation.epoch, completed(i))),
    );
    const messages = await store.listMessages('c1');
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Each turn's question and answer are next to each other.
    for (let i = 0; i < 20; i += 2) expect(messages[i]!.turnId).toBe(messages[i + 1]!.turnId);
    expect(await store.get('c1')).toMatchObject({ turns: 10, messages: 20 });
  });

  it('records a failed turn without messages, with its error', async () => {
    const { conversation } = await store.open('c1', 'echo');
    const failed = await store.recordTurn('c1', conversation.epoch, {
      turnId: 'bad',
      status: 'failed',
      input: [{ id: 'u', role: 'user', content: 'hello' }],
      error: { code: 'LLM.RATE_LIMITED', status: 429, message: 'slow down' },
    });
    expect(failed).toMatchObject({ status: 'failed', messageIds: [], error: { code: 'LLM.RATE_LIMITED' } });
    expect(failed!.reply).toBeUndefined();
    expect(await store.listMessages('c1')).toEqual([]);
    expect(await store.get('c1')).toMatchObject({ turns: 0, failedTurns: 1, messages: 0 });
  });

  it('keeps the latest memory compaction on the conversation', async () => {
    const { conversation } = await store.open('c1', 'echo');
    await store.recordTurn('c1', conversation.epoch, completed(1));
    const memory = { strategy: 'summarize' as const, summary: 'they said hello', through: 2 };
    await store.recordTurn('c1', conversation.epoch, completed(2, { memory }));
    expect(await store.getTurn('c1', 't2')).toMatchObject({ memory });
    expect((await store.get('c1'))!.memory).toEqual(memory);
  });

  it('writes nothing for another epoch or a missing conversation', async () => {
    const { conversation } = await store.open('c1', 'echo');
    expect(await store.recordTurn('c1', 'another-epoch', completed(1))).toBeUndefined();
    expect(await store.recordTurn('nope', conversation.epoch, completed(1))).toBeUndefined();
    expect(await store.get('nope')).toBeUndefined();
    expect(await store.listMessages('c1')).toEqual([]);
  });

  it('deletes everything; the same id then starts afresh with a new epoch', async () => {
    const { conversation } = await store.open('c1', 'echo');
    await store.recordTurn('c1', conversation.epoch, completed(1));
    await store.recordDelivery({
      id: 'd1',
      agentId: 'echo',
      conversationId: 'c1',
      turnId: 't1',
      content: 'hi',
      at: new Date().toISOString(),
    });
    const deleted = await store.delete('c1');
    expect(deleted).toMatchObject({ id: 'c1', epoch: conversation.epoch, turns: 1 });
    expect(await store.get('c1')).toBeUndefined();
    expect(await store.getTurn('c1', 't1')).toBeUndefined();
    expect(await store.listMessages('c1')).toEqual([]);
    expect(await store.listDeliveries('echo')).toEqual([]);
    expect(await store.delete('c1')).toBeUndefined();

    await tick();
    const again = await store.open('c1', 'architect');
    expect(again.created).toBe(true);
    expect(again.conversation.epoch > conversation.epoch).toBe(true);
    // A late turn of the old conversation lands nowhere.
    expect(await store.recordTurn('c1', conversation.epoch, completed(2))).toBeUndefined();
    expect(await store.listMessages('c1')).toEqual([]);
    await store.recordTurn('c1', again.conversation.epoch, completed(3));
    expect((await store.listMessages('c1')).map((m) => m.seq)).toEqual([1, 2]);
  });

  it('lists idle conversations oldest first and deletes only what is still idle', async () => {
    const a = await store.open('a', 'echo');
    await tick();
    await store.open('b', 'echo');
    await tick();
    const cutoff = new Date().toISOString();
    await tick();
    await store.open('c', 'echo');
    expect((await store.listIdle(cutoff)).map((c) => c.id)).toEqual(['a', 'b']);
    expect((await store.listIdle(cutoff, 1)).map((c) => c.id)).toEqual(['a']);
    // `a` speaks after the listing: it is no longer idle and survives its expiry.
    await tick();
    await store.recordTurn('a', a.conversation.epoch, completed(1));
    expect(await store.delete('a', { idleBefore: cutoff })).toBeUndefined();
    expect(await store.delete('b', { idleBefore: cutoff })).toMatchObject({ id: 'b' });
    expect((await store.listIdle(new Date(Date.now() + 1000).toISOString())).map((c) => c.id)).toEqual([
      'c',
      'a',
    ]);
  });

  it('records deliveries once and lists them per agent, newest first', async () => {
    await store.open('inbox-echo', 'echo');
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();
    const d = (id: string, ms: number, agentId = 'echo') => ({
      id,
      agentId,
      conversationId: 'inbox-echo',
      turnId: `t-${id}`,
      sender: 'planner',
      content: `message ${id}`,
      at: at(ms),
    });
    expect(await store.recordDelivery(d('d1', 1))).toEqual(d('d1', 1));
    await store.recordDelivery(d('d2', 2));
    await store.recordDelivery({ ...d('d3', 3, 'scribe'), broadcastId: 'b1' });
    expect(await store.recordDelivery({ ...d('d1', 9), content: 'changed' })).toEqual(d('d1', 1));
    expect((await store.listDeliveries('echo')).map((x) => x.id)).toEqual(['d2', 'd1']);
    expect((await store.listDeliveries('echo', 1)).map((x) => x.id)).toEqual(['d2']);
    expect(await store.listDeliveries('scribe')).toEqual([{ ...d('d3', 3, 'scribe'), broadcastId: 'b1' }]);
  });
});

test('SQLite: conversations survive reopening the file', async () => {
  const file = path.join(dir, 'reopen.sqlite');
  const a = new SqliteConversationStore(file);
  const { conversation } = await a.open('c1', 'echo');
  await a.recordTurn('c1', conversation.epoch, completed(1));
  a.close();
  const b = new SqliteConversationStore(file);
  try {
    expect(await b.get('c1')).toMatchObject({ turns: 1, epoch: conversation.epoch });
    expect((await b.listMessages('c1')).map((m) => m.id)).toEqual(['u1', 'a1']);
  } finally {
    b.close();
  }
});
