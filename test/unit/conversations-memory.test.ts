/** Conversation memory: when compaction starts (at the budget), what stays, and the memory model port. */
import type { AgentDefinition } from '../../src/agents/types';
import {
  createMemoryModel,
  memoryTokens,
  messageTokens,
  KEEP_SHARE,
  MIN_SUMMARY_TOKENS,
  planCompaction,
  SUMMARY_PROMPT,
  summaryInput,
  summaryTokens,
} from '../../src/conversations/memory';
import type { Memory, MemoryMessage, TurnMessage } from '../../src/conversations/types';
import type { ResolvedModel } from '../../src/llm/factory';
import { ScriptedModel } from '../fixtures/scripted-model';

/** Turn i: a user message and the reply, seqs 2i-1 and 2i. */
const turnMessages = (i: number, content = `message number ${i}`): MemoryMessage[] => [
  { id: `u${i}`, role: 'user', content, seq: 2 * i - 1, turnId: `t${i}` },
  { id: `a${i}`, role: 'assistant', content, seq: 2 * i, turnId: `t${i}` },
];
const memoryOf = (turns: number, summary?: string): Memory => ({
  ...(summary !== undefined && { summary }),
  messages: Array.from({ length: turns }, (_, i) => turnMessages(i + 1)).flat(),
});
const incoming: TurnMessage[] = [{ id: 'new', role: 'user', content: 'the new question' }];

describe('planCompaction', () => {
  it('counts the summary, every message and the incoming ones', () => {
    const memory = memoryOf(2, 'a summary');
    const expected = [memory.summary!, ...memory.messages.map((m) => m.content), 'the new question']
      .map(messageTokens)
      .reduce((a, b) => a + b, 0);
    expect(memoryTokens(memory, incoming)).toBe(expected);
  });

  it('does nothing up to the budget, and starts one token over it', () => {
    const memory = memoryOf(6);
    const tokens = memoryTokens(memory, incoming);
    expect(planCompaction(memory, incoming, tokens)).toBeUndefined();
    const plan = planCompaction(memory, incoming, tokens - 1);
    expect(plan).toBeDefined();
    expect(plan!.tokens).toBe(tokens);
  });

  it('keeps the newest whole turns within KEEP_SHARE of the budget and folds the rest', () => {
    const memory = memoryOf(10);
    const budget = memoryTokens(memory, incoming) - 1;
    const plan = planCompaction(memory, incoming, budget)!;
    const keptTokens = memoryTokens({ messages: plan.keep }, incoming);
    expect(keptTokens).toBeLessThanOrEqual(Math.floor(budget * KEEP_SHARE));
    // One more turn would not have fit.
    const nextTurn = plan.fold.slice(-2);
    expect(keptTokens + memoryTokens({ messages: nextTurn })).toBeGreaterThan(
      Math.floor(budget * KEEP_SHARE),
    );
    expect([...plan.fold, ...plan.keep]).toEqual(memory.messages);
    expect(plan.fold.length % 2).toBe(0);
    expect(plan.through).toBe(plan.fold.at(-1)!.seq);
  });

  it('folds everything when not even the newest turn fits, and nothing when there is nothing', () => {
    const memory = { messages: turnMessages(1, 'long '.repeat(200)) };
    const plan = planCompaction(memory, incoming, 50)!;
    expect(plan.keep).toEqual([]);
    expect(plan.through).toBe(2);
    expect(
      planCompaction({ messages: [] }, [{ id: 'x', role: 'user', content: 'big '.repeat(500) }], 10),
    ).toBeUndefined();
  });

  it('asks for a summary of at most SUMMARY_SHARE of the budget (and at least a minimum)', () => {
    expect(summaryTokens(4000)).toBe(600);
    expect(summaryTokens(10)).toBe(MIN_SUMMARY_TOKENS);
  });

  it('writes the summary input from the previous summary and the folded messages', () => {
    expect(summaryInput('earlier', turnMessages(1, 'hi'))).toBe(
      'Summary so far:\nearlier\n\nConversation to add to the summary:\nUser: hi\nAssistant: hi',
    );
    expect(summaryInput(undefined, [])).toBe('Conversation to add to the summary:');
  });
});

describe('createMemoryModel', () => {
  const echo = { id: 'echo', name: 'Echo', role: 'echo' } as AgentDefinition;
  const agents = { resolve: (name: string) => Promise.resolve(name === 'echo' ? echo : undefined) };

  it('takes the budget from the setting, else half the context window of the agent model', async () => {
    const model = new ScriptedModel([]);
    const resolveModel = (): ResolvedModel => ({ model, modelName: 'gpt-4o', provider: 'openai' });
    const fixed = createMemoryModel({ agents, resolveModel, settings: { strategy: 'trim', maxTokens: 500 } });
    expect(await fixed.budget('echo')).toBe(500);
    const auto = createMemoryModel({ agents, resolveModel, settings: { strategy: 'trim', maxTokens: 0 } });
    expect(await auto.budget('echo')).toBe(64_000);
    const custom = createMemoryModel({
      agents,
      resolveModel,
      settings: { strategy: 'trim', maxTokens: 0 },
      contextWindows: { 'gpt-4o': 1000 },
    });
    expect(await custom.budget('echo')).toBe(500);
    await expect(auto.budget('gone')).rejects.toThrow(/Agent 'gone' is gone/);
  });

  it("summarizes with the agent's own model, capped to the tokens asked for", async () => {
    const model = new ScriptedModel([
      { content: '  They said hi.  ', usage: { prompt: 9, completion: 4, total: 13 } },
    ]);
    const resolveModel = (): ResolvedModel => ({ model, modelName: 'offline-1', provider: 'offline' });
    const memory = createMemoryModel({
      agents,
      resolveModel,
      settings: { strategy: 'summarize', maxTokens: 0 },
    });
    const made = await memory.summarize('echo', 'before', turnMessages(1, 'hi'), 99);
    expect(made).toEqual({
      summary: 'They said hi.',
      usage: { prompt: 9, completion: 4, total: 13 },
      model: 'offline-1',
    });
    expect(model.requests[0]).toMatchObject({
      model: 'offline-1',
      maxTokens: 99,
      temperature: 0,
      agentRole: 'summarizer',
      messages: [
        { role: 'system', content: SUMMARY_PROMPT },
        { role: 'user', content: summaryInput('before', turnMessages(1, 'hi')) },
      ],
    });
  });
});
