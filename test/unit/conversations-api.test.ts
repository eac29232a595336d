/**
 * The conversation and messaging use cases over an in-process engine (the reply activity run inline,
 * or nothing run at all): validation (400/404/409 problem+json), the seed's response shape, pending
 * turns, deleted conversations, reads and deletes, idle expiry, deliveries, and the SSE events.
 */
import { createAgentRunner } from '../../src/agents/runner';
import {
  deleteConversation,
  getConversation,
  runConversation,
  type ConversationsApiDeps,
} from '../../src/api/conversations';
import {
  broadcastAgentMessage,
  listAgentMessages,
  sendAgentMessage,
} from '../../src/api/conversations-messaging';
import { turnEvents } from '../../src/api/conversations-stream';
import { CONVERSATION_SCHEMAS } from '../../src/api/conversations-schemas';
import { answer, type ApiResponse } from '../../src/api/http';
import { parseSse } from '../../src/api/sse';
import type { MemoryModel } from '../../src/conversations/memory';
import { turnLogId } from '../../src/conversations/names';
import { replyActivity } from '../../src/conversations/reply';
import { ConversationService, inboxOf, type ConversationEngine } from '../../src/conversations/service';
import type { TurnOrchestrationInput } from '../../src/conversations/types';
import { LlmError } from '../../src/llm/errors';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { MemoryConversationStore } from '../../src/store/memory-conversations';
import { MemoryRunStore } from '../../src/store/memory-runs';
import { ScriptedModel, type ScriptStep } from '../fixtures/scripted-model';

type Started = Extract<TurnOrchestrationInput, { kind: 'turn' }>;
const echoReply: ScriptStep = (req) => req.messages.at(-1)!.content;

function setup(
  options: { script?: ScriptStep[]; run?: boolean; turnTimeoutMs?: number; now?: () => Date } = {},
) {
  const model = new ScriptedModel(options.script ?? Array.from({ length: 20 }, () => echoReply));
  const store = new MemoryConversationStore();
  const events = new MemoryRunStore();
  const agents = createAgentRunner({
    store: new MemoryCatalogStore(),
    resolveModel: () => ({ model, modelName: 'offline-1', provider: 'offline' }),
    costOf: () => ({ currency: 'USD', input: 0, output: 0, total: 0 }),
  });
  const memory: MemoryModel = {
    budget: () => Promise.resolve(100_000),
    summarize: () => Promise.reject(new Error('not expected')),
  };
  const started: Started[] = [];
  const signals: { key: string; operation: string; input: unknown }[] = [];
  const engine: ConversationEngine = {
    startTurn: async (input) => {
      started.push(input);
      // The whole durable path in one step: no queue, an empty memory.
      if (options.run !== false) {
        await replyActivity(
          { store, agents, memory, strategy: 'trim', events, deltaFlushMs: 0 },
          { ref: input.ref, turn: input.turn, memory: { messages: [] } },
        );
      }
    },
    signal: (key, operation, input) => {
      signals.push({ key, operation, input });
      return Promise.resolve();
    },
  };
  const service = new ConversationService({
    store,
    agents,
    engine,
    maxPollMs: 5,
    ...(options.now && { now: options.now }),
  });
  const deps: ConversationsApiDeps = {
    service,
    events,
    turnTimeoutMs: options.turnTimeoutMs ?? 2000,
    ttlSeconds: 3600,
    heartbeatMs: 20,
  };
  return { deps, store, events, model, started, signals, service };
}

const call = (fn: () => Promise<ApiResponse>): Promise<ApiResponse> => answer(fn);
const hello = { messages: [{ role: 'user' as const, content: 'Hello! How are you?' }] };

describe('POST /api/agents/{name}/run', () => {
  it("answers the seed's shape and continues a conversation by its id", async () => {
    const { deps, model } = setup();
    const first = await call(() => runConversation(deps, 'Echo', hello));
    expect(first.status).toBe(200);
    const body = CONVERSATION_SCHEMAS.ConversationRunResponse.parse(first.json);
    expect(body).toMatchObject({
      messages: [{ role: 'assistant', content: 'Hello! How are you?', message_id: expect.any(String) }],
      status: 'completed',
    });
    const second = await call(() =>
      runConversation(deps, 'echo', {
        conversation_id: body.conversation_id,
        messages: [{ role: 'user', content: 'again' }],
      }),
    );
    expect(second.json).toMatchObject({ conversation_id: body.conversation_id, status: 'completed' });
    expect(model.requests).toHaveLength(2);
  });

  it.each([
    ['not an object', [1, 2], ''],
    ['no messages', { messages: [] }, 'messages'],
    ['messages missing', {}, 'messages'],
    ['an unknown role', { messages: [{ role: 'wizard', content: 'hi' }] }, 'messages.0.role'],
    ['a system message', { messages: [{ role: 'system', content: 'hi' }] }, 'messages.0.role'],
    ['empty content', { messages: [{ role: 'user', content: '' }] }, 'messages.0.content'],
    ['an assistant message last', { messages: [{ role: 'assistant', content: 'hi' }] }, 'messages'],
    ['a bad conversation id', { ...hello, conversation_id: 'has/slash' }, 'conversation_id'],
    ['a long conversation id', { ...hello, conversation_id: 'x'.repeat(129) }, 'conversation_id'],
    ['another agent_name', { ...hello, agent_name: 'architect' }, 'agent_name'],
  ])('answers 400 REQUEST.INVALID for %s', async (_what, body, path) => {
    const { deps, started } = setup();
    const res = await call(() => runConversation(deps, 'echo', body));
    expect(res.status).toBe(400);
    expect(res.headers?.['content-type']).toBe('application/problem+json');
    expect(res.json).toMatchObject({
      code: 'REQUEST.INVALID',
      violations: [expect.objectContaining({ path })],
    });
    expect(started).toEqual([]);
  });

  it('accepts the seed clients’ agent_name when it names the same agent', async () => {
    const { deps } = setup();
    expect((await call(() => runConversation(deps, 'echo', { ...hello, agent_name: 'Echo' }))).status).toBe(
      200,
    );
  });

  it('answers 404 AGENT.UNKNOWN for an unknown agent, 409 for a conversation of another agent', async () => {
    const { deps, store } = setup();
    const unknown = await call(() => runConversation(deps, 'nobody', hello));
    expect(unknown).toMatchObject({ status: 404, json: { code: 'AGENT.UNKNOWN' } });
    await store.open('mine', 'architect');
    const other = await call(() => runConversation(deps, 'echo', { ...hello, conversation_id: 'mine' }));
    expect(other).toMatchObject({ status: 409, json: { code: 'CONVERSATION.AGENT_MISMATCH' } });
  });

  it('answers a failed turn with its error as problem+json', async () => {
    const { deps } = setup({ script: [new LlmError('LLM.RATE_LIMITED', 'Slow down.', { httpStatus: 429 })] });
    const res = await call(() => runConversation(deps, 'echo', hello));
    expect(res).toMatchObject({ status: 429, json: { code: 'LLM.RATE_LIMITED', detail: 'Slow down.' } });
  });

  it('answers 202 pending with the conversation URL when the reply does not come in time', async () => {
    const { deps } = setup({ run: false, turnTimeoutMs: 30 });
    const res = await call(() => runConversation(deps, 'echo', { ...hello, conversation_id: 'slow-1' }));
    expect(res.status).toBe(202);
    expect(res.headers).toEqual({ location: '/api/conversations/slow-1' });
    expect(CONVERSATION_SCHEMAS.ConversationRunResponse.parse(res.json)).toMatchObject({
      messages: [],
      status: 'pending',
      conversation_id: 'slow-1',
    });
  });

  it('answers 409 CONVERSATION.DELETED when the conversation goes while the turn waits', async () => {
    const { deps, service } = setup({ run: false, turnTimeoutMs: 5000 });
    const pending = call(() => runConversation(deps, 'echo', { ...hello, conversation_id: 'doomed' }));
    await new Promise((r) => setTimeout(r, 20));
    await service.delete('doomed');
    expect(await pending).toMatchObject({ status: 409, json: { code: 'CONVERSATION.DELETED' } });
  });
});

describe('GET and DELETE /api/conversations/{id}', () => {
  it('shows the transcript, totals and memory; delete purges the store and signals the actor', async () => {
    const { deps, signals, store } = setup();
    const run = await call(() => runConversation(deps, 'echo', { ...hello, conversation_id: 'c-1' }));
    const res = await call(() => getConversation(deps, 'c-1'));
    expect(res.status).toBe(200);
    const view = CONVERSATION_SCHEMAS.Conversation.parse(res.json);
    expect(view).toMatchObject({
      conversation_id: 'c-1',
      agent: 'echo',
      turns: 1,
      failed_turns: 0,
      memory: { summarized_through: 0 },
      messages: [
        { role: 'user', content: 'Hello! How are you?', seq: 1 },
        {
          role: 'assistant',
          content: 'Hello! How are you?',
          seq: 2,
          message_id: (run.json as any).messages[0].message_id,
        },
      ],
    });
    expect(view.tokens.total).toBeGreaterThan(0);
    expect(Date.parse(view.expires_at!) - Date.parse(view.last_active_at)).toBe(3600_000);
    const epoch = (await store.get('c-1'))!.epoch;
    expect((await call(() => deleteConversation(deps, 'c-1'))).status).toBe(204);
    expect(signals).toEqual([{ key: 'echo@c-1', operation: 'delete', input: { epoch } }]);
    expect(await call(() => getConversation(deps, 'c-1'))).toMatchObject({
      status: 404,
      json: { code: 'CONVERSATION.NOT_FOUND' },
    });
    expect((await call(() => deleteConversation(deps, 'c-1'))).status).toBe(404);
  });
});

describe('idle expiry', () => {
  it('deletes conversations idle for the TTL, store and actor; 0 keeps everything', async () => {
    let clock = Date.now();
    const { service, store, signals } = setup({ now: () => new Date(clock) });
    await store.open('old', 'echo');
    await store.open('older', 'echo');
    expect(await service.expireIdle(0)).toBe(0);
    expect(await service.expireIdle(60)).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    const cutoff = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await store.open('fresh', 'echo');
    clock = cutoff + 60_000;
    expect(await service.expireIdle(60, 1)).toBe(2);
    expect(signals.map((s) => s.key).sort()).toEqual(['echo@old', 'echo@older']);
    expect(await store.get('fresh')).toBeDefined();
    expect(await store.get('old')).toBeUndefined();
  });
});

describe('messaging', () => {
  it('delivers to the inbox (or a named conversation), records it and lists it', async () => {
    const { deps, started, store } = setup();
    const res = await call(() => sendAgentMessage(deps, 'echo', { content: 'ship it', sender: 'builder' }));
    expect(res.status).toBe(202);
    const accepted = CONVERSATION_SCHEMAS.MessageAccepted.parse(res.json);
    expect(accepted).toMatchObject({
      status: 'sent',
      agent: 'echo',
      conversation_id: inboxOf('echo'),
      sender: 'builder',
    });
    expect(started[0]!.turn).toMatchObject({ sender: 'builder', deliveryId: accepted.message_id });
    const messages = await store.listMessages(inboxOf('echo'));
    expect(messages[0]).toMatchObject({ content: 'ship it', sender: 'builder' });
    await call(() => sendAgentMessage(deps, 'echo', { payload: { task: 'review' }, conversation_id: 'ops' }));
    expect((await store.listMessages('ops'))[0]!.content).toBe('{"task":"review"}');
    const list = await call(() => listAgentMessages(deps, 'Echo', new URLSearchParams()));
    expect(CONVERSATION_SCHEMAS.MessageList.parse(list.json).items.map((d) => d.conversation_id)).toEqual([
      'ops',
      inboxOf('echo'),
    ]);
  });

  it('refuses a message without content, to an unknown agent, or with a bad limit', async () => {
    const { deps } = setup();
    expect(await call(() => sendAgentMessage(deps, 'echo', { sender: 'x' }))).toMatchObject({
      status: 400,
      json: { violations: [{ path: 'content', message: 'send `content` or `payload`' }] },
    });
    expect(await call(() => sendAgentMessage(deps, 'echo', { content: ' ' }))).toMatchObject({ status: 400 });
    expect(await call(() => sendAgentMessage(deps, 'ghost', { content: 'hi' }))).toMatchObject({
      status: 404,
    });
    expect(await call(() => listAgentMessages(deps, 'echo', new URLSearchParams('limit=0')))).toMatchObject({
      status: 400,
    });
  });

  it('broadcasts to every agent the filter matches, one recorded delivery each', async () => {
    const { deps, store } = setup({ run: false });
    const res = await call(() =>
      broadcastAgentMessage(deps, {
        content: 'standup in 5',
        sender: 'scheduler',
        filter: { capability: 'documentation' },
      }),
    );
    const body = CONVERSATION_SCHEMAS.BroadcastAccepted.parse(res.json);
    expect(res.status).toBe(202);
    expect(body.deliveries.map((d) => d.agent)).toEqual(['scribe']);
    expect(body.deliveries[0]!.broadcast_id).toBe(body.broadcast_id);
    const all = await call(() =>
      broadcastAgentMessage(deps, { content: 'hello all', filter: { built_in: true } }),
    );
    expect((all.json as any).deliveries.map((d: any) => d.agent)).toEqual([
      'architect',
      'builder',
      'validator',
      'scribe',
      'echo',
    ]);
    const named = await call(() =>
      broadcastAgentMessage(deps, { payload: 'hi', filter: { agents: ['Echo', 'architect'], role: 'echo' } }),
    );
    expect((named.json as any).deliveries.map((d: any) => d.agent)).toEqual(['echo']);
    expect((await store.listDeliveries('echo')).map((d) => d.content)).toEqual(['hi', 'hello all']);
  });
});

describe('SSE events of a streamed turn', () => {
  async function streamed(script: ScriptStep[] = [echoReply]) {
    const ctx = setup({ run: false, script });
    const submitted = await ctx.service.submit({ agent: 'echo', messages: hello.messages, stream: true });
    return { ...ctx, submitted };
  }

  const read = async (gen: AsyncIterable<string>): Promise<string> => {
    let text = '';
    for await (const chunk of gen) text += chunk;
    return text;
  };

  it('sends turn, the deltas once each (a repeated activity does not duplicate them), then result', async () => {
    const { deps, events, store, submitted } = await streamed();
    const log = turnLogId(submitted.turn.id);
    const delta = (offset: number, text: string) =>
      events.append(log, { type: 'turn.delta', data: { offset, delta: text } });
    await delta(0, 'Hello! ');
    await delta(0, 'Hello! '); // the activity ran again
    await delta(7, 'How are');
    await delta(10, ' are you?');
    await store.recordTurn(submitted.conversation.id, submitted.conversation.epoch, {
      turnId: submitted.turn.id,
      status: 'completed',
      input: submitted.turn.messages,
      reply: { id: submitted.turn.replyId, content: 'Hello! How are you?' },
    });
    await events.append(log, { type: 'run.completed', data: { turnId: submitted.turn.id } });
    const parsed = parseSse(await read(turnEvents(deps, submitted)));
    expect(parsed.map((e) => e.event)).toEqual(['turn', 'delta', 'delta', 'delta', 'result']);
    expect(parsed.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(
      parsed
        .slice(1, 4)
        .map((e) => (e.data as { delta: string }).delta)
        .join(''),
    ).toBe('Hello! How are you?');
    expect(parsed[4]!.data).toMatchObject({
      status: 'completed',
      messages: [{ content: 'Hello! How are you?' }],
    });
  });

  it('ends with an error event for a failed turn, a deleted conversation, or no reply in time', async () => {
    const failed = await streamed();
    await failed.store.recordTurn(failed.submitted.conversation.id, failed.submitted.conversation.epoch, {
      turnId: failed.submitted.turn.id,
      status: 'failed',
      input: [],
      error: { code: 'LLM.TIMEOUT', status: 504, message: 'Too slow.' },
    });
    await failed.events.append(turnLogId(failed.submitted.turn.id), { type: 'run.failed', data: {} });
    expect(parseSse(await read(turnEvents(failed.deps, failed.submitted))).at(-1)).toMatchObject({
      event: 'error',
      data: { code: 'LLM.TIMEOUT', status: 504 },
    });

    const gone = await streamed();
    const pending = read(turnEvents(gone.deps, gone.submitted));
    await new Promise((r) => setTimeout(r, 60)); // a heartbeat or two while the turn waits
    await gone.service.delete(gone.submitted.conversation.id);
    const text = await pending;
    expect(text).toContain(': heartbeat');
    expect(parseSse(text).at(-1)).toMatchObject({ event: 'error', data: { code: 'CONVERSATION.DELETED' } });

    const slow = await streamed();
    slow.deps.turnTimeoutMs = 30;
    expect(parseSse(await read(turnEvents(slow.deps, slow.submitted))).at(-1)).toMatchObject({
      event: 'error',
      data: { code: 'CONVERSATION.TURN_PENDING', status: 504 },
    });
  });
});
