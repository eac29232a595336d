/** Context-window budgeting: what is dropped first, what never is, the overflow error, the reply cap. */
import { fitToWindow, type BudgetInput } from '../../src/agents/budget';
import { LlmError } from '../../src/llm/errors';
import { REPLY_PRIMING_TOKENS, countMessageTokens } from '../../src/llm/tokens';
import type { ChatMessage } from '../../src/llm/types';

const system: ChatMessage = { role: 'system', content: 'You are a helpful assistant.' };
const context: ChatMessage = {
  role: 'system',
  content: `Project Context:\n- notes: ${'lorem ipsum '.repeat(20)}`,
};
const input: ChatMessage = { role: 'user', content: 'What next?' };
const history: ChatMessage[] = [1, 2, 3, 4].map((n) => ({
  role: n % 2 ? 'user' : 'assistant',
  content: `turn ${n}: ${'words '.repeat(10)}`,
}));
/** What one message adds to a prompt. */
const cost = (m: ChatMessage): number => countMessageTokens([m]) - REPLY_PRIMING_TOKENS;
const tokens = (ms: ChatMessage[]): number => countMessageTokens(ms);

function budget(window: number, maxTokens: number, extra: Partial<BudgetInput> = {}) {
  return fitToWindow({
    system: [system],
    context,
    history,
    input,
    model: 'tiny',
    maxTokens,
    contextWindows: { tiny: window },
    ...extra,
  });
}

test('everything fits: all messages in order, max tokens as requested', () => {
  const b = budget(10_000, 500);
  expect(b.messages).toEqual([system, context, ...history, input]);
  expect(b.maxTokens).toBe(500);
  expect(b.promptTokens).toBe(tokens(b.messages));
  expect(b.contextWindow).toBe(10_000);
  expect(b.dropped).toEqual({ history: 0, context: false });
});

test('drops the oldest history turns first, to leave the reply its requested tokens', () => {
  const all = tokens([system, context, ...history, input]);
  // Room for everything but the two oldest turns (and a bit) beside a 100-token reply.
  const window = all - cost(history[0]!) - cost(history[1]!) + 100 + 2;
  const b = budget(window, 100);
  expect(b.messages).toEqual([system, context, history[2], history[3], input]);
  expect(b.dropped).toEqual({ history: 2, context: false });
  expect(b.maxTokens).toBe(100);
  expect(b.promptTokens + b.maxTokens).toBeLessThanOrEqual(window);
});

test('then caps the reply rather than drop the context', () => {
  const essentialsAndContext = tokens([system, context, input]);
  const b = budget(essentialsAndContext + 200, 1000);
  expect(b.messages).toEqual([system, context, input]);
  expect(b.dropped).toEqual({ history: 4, context: false });
  expect(b.maxTokens).toBe(200);
});

test('then drops the context when even a minimal reply would not fit with it; never system or input', () => {
  const essentials = tokens([system, input]);
  const window = essentials + cost(context) + 63; // one token short of the 64-token minimum reply
  const b = budget(window, 1000);
  expect(b.messages).toEqual([system, input]);
  expect(b.dropped).toEqual({ history: 4, context: true });
  expect(b.maxTokens).toBe(window - essentials);
});

test('history does not outlive the context: once the context goes, so do all turns', () => {
  const essentials = tokens([system, input]);
  const window = essentials + cost(context) + 10;
  const b = budget(window, 20);
  expect(b.messages).toEqual([system, input]);
  expect(b.dropped).toEqual({ history: 4, context: true });
});

test('several system messages and trailing repair turns are kept too', () => {
  const schema: ChatMessage = { role: 'system', content: 'Answer with JSON.' };
  const trailing: ChatMessage[] = [
    { role: 'assistant', content: 'not json' },
    { role: 'user', content: 'Your previous reply was not valid.' },
  ];
  const b = budget(10_000, 100, { system: [system, schema], trailing });
  expect(b.messages).toEqual([system, schema, context, ...history, input, ...trailing]);
  expect(b.promptTokens).toBe(tokens(b.messages));
});

test('overflow when the system prompt and the input alone leave less than 64 tokens', () => {
  const essentials = tokens([system, input]);
  const window = essentials + 63;
  let caught: unknown;
  try {
    budget(window, 4000);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LlmError);
  const err = caught as LlmError;
  expect(err.code).toBe('LLM.CONTEXT_OVERFLOW');
  expect(err.retryable).toBe(false);
  expect(err.message).toContain(`${window}-token context window of 'tiny'`);
  expect(err.message).toContain(`alone take ${essentials} tokens, leaving 63 for the reply`);
  expect(err.message).toContain('at least 64 needed, 4,000 requested');
});

test('a smaller requested max tokens is its own minimum', () => {
  const essentials = tokens([system, input]);
  const b = budget(essentials + 10, 10, { context: undefined, history: [] });
  expect(b.maxTokens).toBe(10);
});

test("uses the model's known window when there is no override", () => {
  const b = fitToWindow({ system: [system], history: [], input, model: 'gpt-4', maxTokens: 100_000 });
  expect(b.contextWindow).toBe(8192);
  expect(b.maxTokens).toBe(8192 - b.promptTokens);
});
