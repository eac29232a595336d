/**
 * Conversation memory on the local host: with a small CONVERSATION_MEMORY_MAX_TOKENS, the older turns
 * are summarized by the agent's model exactly at the turn whose memory outgrows the budget, and from
 * then on the agent's prompt stays bounded while the transcript keeps every message.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryTokens } from '../../src/conversations/memory';
import type { Memory } from '../../src/conversations/types';
import { bodyOf, startProjectHost, type ProjectHost } from '../helpers/project-host';

const BUDGET = 200;
let project: ProjectHost;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conversations-memory-'));
  project = await startProjectHost('conversations-memory', {
    CONVERSATION_SQLITE_PATH: path.join(dir, 'conversations.sqlite'),
    CONVERSATION_MEMORY_STRATEGY: 'summarize',
    CONVERSATION_MEMORY_MAX_TOKENS: String(BUDGET),
  });
});
afterAll(async () => {
  await project.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const contents = Array.from(
  { length: 12 },
  (_, i) =>
    `Note ${i}: the ${['red', 'green', 'blue'][i % 3]} service handles ${i * 7} requests per second today.`,
);

/** The first turn at which memory + the new message exceed the budget, counted as the app counts. */
function firstTurnOverBudget(): number {
  const memory: Memory = { messages: [] };
  for (let i = 0; i < contents.length; i++) {
    if (memoryTokens(memory, [{ id: 'x', role: 'user', content: contents[i]! }]) > BUDGET) return i;
    for (const role of ['user', 'assistant'] as const) {
      memory.messages.push({ id: `${i}${role}`, role, content: contents[i]!, seq: 0, turnId: `${i}` });
    }
  }
  throw new Error('the contents never outgrow the budget');
}

it('summarizes the older turns at the turn that outgrows the budget, and keeps the prompt bounded', async () => {
  const at = firstTurnOverBudget();
  expect(at).toBeGreaterThan(1);
  const prompts: number[] = [];
  /** Per turn: whether it compacted the memory (its usage then includes the summary call). */
  const compacted: boolean[] = [];
  let through = 0;
  let replyTokens = 0;
  for (let i = 0; i < contents.length; i++) {
    const res = await project.send('POST', '/api/agents/echo/run', {
      conversation_id: 'long-talk',
      messages: [{ role: 'user', content: contents[i] }],
    });
    const body = await bodyOf(res);
    expect(res.status).toBe(200);
    expect(body.messages[0].content).toBe(contents[i]);
    prompts.push(body.usage.prompt);
    replyTokens += body.usage.total;
    const view = await bodyOf(project.send('GET', '/api/conversations/long-talk'));
    if (i < at) {
      expect(view.memory).toEqual({ summarized_through: 0 });
    } else if (i === at) {
      expect(view.memory).toEqual({
        strategy: 'summarize',
        summary: expect.any(String),
        summarized_through: expect.any(Number),
      });
      expect(view.memory.summary.length).toBeGreaterThan(0);
      expect(view.memory.summarized_through).toBeGreaterThan(0);
    }
    compacted.push(view.memory.summarized_through !== through);
    through = view.memory.summarized_through;
    // The transcript keeps everything, whatever the memory holds.
    expect(view.messages).toHaveLength(2 * (i + 1));
    expect(view.tokens.total).toBe(replyTokens);
  }
  // Without compaction the prompt would grow by two messages a turn; with it, it stays within the budget
  // (plus the system prompt and the summary).
  const state: any = await (
    await fetch(`${project.base}/runtime/webhooks/durabletask/entities/conversation/echo@long-talk`)
  ).json();
  expect(memoryTokens(state.memory)).toBeLessThanOrEqual(BUDGET);
  const plain = prompts.filter((_, i) => i > at && !compacted[i]);
  expect(plain.length).toBeGreaterThan(0);
  expect(Math.max(...plain)).toBeLessThan(BUDGET + 60);
});
