/** The offline model: deterministic, role-shaped answers, real validator checks, tokens, faults. */
import { z } from 'zod';
import { ConfigError } from '../../src/errors';
import { LlmError } from '../../src/llm/errors';
import { detectRole, keyNouns, titleFrom } from '../../src/llm/offline-content';
import { OfflineChatModel, parseFaults, reviewContent } from '../../src/llm/offline';
import { countMessageTokens, countTextTokens } from '../../src/llm/tokens';
import type { ChatMessage, ChatRequest } from '../../src/llm/types';

const PROMPT =
  'Design an order tracking platform with payments, invoices and shipment notifications for a retail ' +
  'chain. It must handle 2k orders per minute at peak and keep invoices for seven years.';

function req(role: string | undefined, prompt = PROMPT, extra: Partial<ChatRequest> = {}): ChatRequest {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are helpful.' },
    { role: 'user', content: prompt },
  ];
  return { model: 'offline-1', messages, ...(role && { agentRole: role }), ...extra };
}

async function collect(model: OfflineChatModel, r: ChatRequest) {
  const gen = model.stream(r);
  const deltas: string[] = [];
  for (;;) {
    const step = await gen.next();
    if (step.done) return { deltas, result: step.value };
    deltas.push(step.value.delta);
  }
}

const verdictSchema = z
  .object({
    score: z.number().min(0).max(100),
    pass: z.boolean(),
    issues: z.array(
      z.object({ severity: z.enum(['error', 'warning', 'info']), message: z.string() }).strict(),
    ),
  })
  .strict();

async function verdict(content: string, instruction = 'Review this:') {
  const model = new OfflineChatModel();
  const result = await model.complete(req('validator', `${instruction}\n\n${content}`));
  return verdictSchema.parse(JSON.parse(result.content));
}

describe('determinism', () => {
  it('the same request gives the same answer, across instances; another prompt another answer', async () => {
    const a = await new OfflineChatModel().complete(req('architect'));
    const b = await new OfflineChatModel().complete(req('architect'));
    const c = await new OfflineChatModel().complete(
      req('architect', 'Design a chat service with rooms and presence.'),
    );
    expect(b).toEqual(a);
    expect(c.content).not.toBe(a.content);
    expect(a).toMatchObject({ provider: 'offline', model: 'offline-1', finishReason: 'stop' });
  });
});

describe('roles', () => {
  it('architect: titled markdown design with the sections and a mermaid flowchart of the key nouns', async () => {
    const { content } = await new OfflineChatModel().complete(req('architect'));
    expect(content.startsWith('# Order Tracking Platform with Payments\n')).toBe(true);
    for (const h of [
      '## Overview',
      '## Components',
      '## Data flow',
      '## Deployment',
      '## Risks and mitigations',
    ]) {
      expect(content).toContain(`\n${h}\n`);
    }
    const mermaid = /```mermaid\n([\s\S]*?)```/.exec(content)?.[1];
    expect(mermaid).toMatch(/^flowchart (LR|TD)\n/);
    for (const noun of keyNouns(PROMPT))
      expect(mermaid).toContain(`[${noun[0]!.toUpperCase()}${noun.slice(1)}]`);
    expect(keyNouns(PROMPT)).toEqual(['order', 'tracking', 'platform', 'payments', 'invoices']);
  });

  it('builder: code files in titled fences derived from the design in the context, plus a test', async () => {
    const design = (await new OfflineChatModel().complete(req('architect'))).content;
    const r = req('builder', 'Implement the design.');
    r.messages.splice(1, 0, { role: 'system', content: `Project Context:\n- design: ${design}` });
    const { content } = await new OfflineChatModel().complete(r);
    const titles = [...content.matchAll(/```ts title="([^"]+)"/g)].map((m) => m[1]);
    expect(titles).toEqual(['src/order.ts', 'src/tracking.ts', 'test/order.test.ts']);
    expect(content).toContain('export class OrderService {');
    expect(content).toContain("import { OrderService } from '../src/order';");
    expect(content.match(/^```/gm)!.length % 2).toBe(0);
  });

  it('validator: a JSON verdict of the required shape, also when json_schema is requested', async () => {
    const format = { type: 'json_schema' as const, name: 'verdict', schema: z.toJSONSchema(verdictSchema) };
    const result = await new OfflineChatModel().complete(
      req('validator', 'Review:\n# Doc', { responseFormat: format }),
    );
    expect(() => verdictSchema.parse(JSON.parse(result.content))).not.toThrow();
  });

  it('scribe: documentation with overview, usage example, reference and operations', async () => {
    const { content } = await new OfflineChatModel().complete(req('scribe', 'Document the billing module.'));
    expect(content).toMatch(/^# Billing Module\n/);
    for (const h of ['## Overview', '## Usage', '## API reference', '## Operations'])
      expect(content).toContain(h);
    expect(content).toMatch(/## Usage\n```ts\n[\s\S]+?\n```/);
  });

  it('echo: the last user message verbatim; other roles: a structured answer', async () => {
    const text = '  Exactly this — with ünïcode, emoji 🚀 and\nnew lines.  ';
    expect((await new OfflineChatModel().complete(req('echo', text))).content).toBe(text);
    const generic = (await new OfflineChatModel().complete(req('planner', 'Plan the migration to Postgres.')))
      .content;
    expect(generic).toMatch(
      /^# Migration to Postgres\n\n## Summary\n[\s\S]+## Details\n[\s\S]+## Next steps\n/,
    );
  });

  it('without agentRole the role is inferred from the system prompt', () => {
    const sys = (content: string): ChatMessage[] => [{ role: 'system', content }];
    expect(detectRole(undefined, sys('You are a senior software architect with 15 years…'))).toBe(
      'architect',
    );
    expect(
      detectRole(undefined, sys('You are a senior software engineer who turns designs into code.')),
    ).toBe('builder');
    expect(detectRole(undefined, sys('You are a meticulous reviewer who validates work'))).toBe('validator');
    expect(detectRole(undefined, sys('You are a technical writer who produces documentation.'))).toBe(
      'scribe',
    );
    expect(detectRole(undefined, sys('Repeat the user message back exactly.'))).toBe('echo');
    expect(detectRole(undefined, sys('You are a friendly assistant.'))).toBe('generic');
    expect(detectRole('Architect', [])).toBe('architect');
  });

  it('json_schema for other roles: JSON that fits the schema; json_object: an object', async () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string' },
        steps: { type: 'array', items: { type: 'string' }, minItems: 2 },
        effort: { type: 'integer', minimum: 1 },
        risky: { type: 'boolean' },
        kind: { enum: ['plan', 'design'] },
      },
      required: ['title', 'steps', 'effort', 'risky', 'kind'],
    };
    const model = new OfflineChatModel();
    const out = JSON.parse(
      (
        await model.complete(
          req('planner', 'x', { responseFormat: { type: 'json_schema', name: 'p', schema } }),
        )
      ).content,
    );
    expect(out).toMatchObject({ effort: 1, risky: true, kind: 'plan' });
    expect(out.steps).toHaveLength(2);
    expect(typeof out.title).toBe('string');
    const obj = JSON.parse(
      (await model.complete(req('scribe', 'x', { responseFormat: { type: 'json_object' } }))).content,
    );
    expect(typeof obj.answer).toBe('string');
  });

  it('titles drop the leading verb, stop at the first clause and keep acronyms', () => {
    expect(titleFrom('Design a URL shortener with analytics, aliases and more')).toBe(
      'URL Shortener with Analytics',
    );
    expect(titleFrom('build the REST API for')).toBe('REST API');
    expect(titleFrom('')).toBe('Untitled');
  });
});

describe('the validator checks the content for real', () => {
  it('good artifacts from the other roles pass with no issues', async () => {
    const m = new OfflineChatModel();
    const design = (await m.complete(req('architect'))).content;
    const code = (await m.complete(req('builder', PROMPT))).content;
    const docs = (await m.complete(req('scribe', PROMPT))).content;
    expect(await verdict(design, 'Validate this design.')).toEqual({ score: 100, pass: true, issues: [] });
    expect(await verdict(code, 'Review the implementation code.')).toEqual({
      score: 100,
      pass: true,
      issues: [],
    });
    expect(await verdict(docs, 'Review the documentation.')).toEqual({ score: 100, pass: true, issues: [] });
  });

  it('finds broken fences, TODOs, placeholders and missing code', async () => {
    const v = await verdict(
      '```ts\n// TODO: finish\nconst x = 1; // FIXME\nlorem ipsum dolor sit amet, TBD',
      'Review the code:',
    );
    const messages = v.issues.map((i) => `${i.severity}: ${i.message}`);
    expect(messages).toEqual([
      'error: Unbalanced code fences: 1 fence line(s), so a code block is never closed.',
      'warning: 2 TODO/FIXME marker(s) left in the content (first on line 4).',
      'error: Placeholder text ("lorem ipsum") is still in the content.',
      'warning: Placeholder markers (TBD, <insert ...>, [placeholder]) are still in the content.',
    ]);
    expect(v).toMatchObject({ pass: false, score: 100 - 2 * 25 - 2 * 10 });
    const noCode = await verdict(
      'I would write a function that adds two numbers and returns the sum of both of them.',
      'Review the code',
    );
    expect(noCode.issues).toContainEqual({
      severity: 'error',
      message: 'Code was expected but there is no fenced code block.',
    });
  });

  it('designs need a mermaid diagram and headings; docs need headings; mermaid and json blocks must be valid', async () => {
    const prose =
      'The system has a web tier, an api tier and a database; requests flow from the web to the database.';
    const design = await verdict(prose, 'Validate the architecture design.');
    expect(design.issues.map((i) => i.message)).toEqual([
      'The design has no mermaid diagram.',
      'The document has no markdown headings.',
    ]);
    expect(design).toMatchObject({ score: 80, pass: true });
    const docs = await verdict(prose, 'Check the README docs.');
    expect(docs.issues.map((i) => i.message)).toEqual(['The document has no markdown headings.']);
    const blocks = await verdict(
      '# T\n\n```mermaid\nboxes and arrows\n```\n\n```json\n{"a": 1,}\n```\n',
      'Review the design.',
    );
    expect(blocks.issues.filter((i) => i.severity === 'error').map((i) => i.message)).toEqual([
      'A mermaid block does not start with a diagram type (flowchart, sequenceDiagram, ...).',
      expect.stringMatching(/^A json code block is not valid JSON: /),
    ]);
  });

  it('flags invalid JSON when JSON is claimed, long code lines, and empty content', async () => {
    const json = await verdict('{"name": "x", "items": [1, 2,', 'Check this JSON config:');
    expect(json.issues).toContainEqual({
      severity: 'error',
      message: expect.stringMatching(/^The content should be JSON but does not parse/),
    });
    const long = await verdict(
      `Here is the code.\n\n\`\`\`ts\nconst s = '${'x'.repeat(250)}';\n\`\`\`\n`,
      'Review the code.',
    );
    expect(long.issues).toEqual([
      { severity: 'warning', message: '1 code line(s) exceed 200 characters (longest: 263).' },
    ]);
    expect(reviewContent('Review', ['   '])).toEqual({
      score: 0,
      pass: false,
      issues: [{ severity: 'error', message: 'There is nothing to review: the content is empty.' }],
    });
  });

  it('reads the shared context (a system message) and JSON values in it', () => {
    const v = reviewContent('Validate the design', [
      JSON.stringify({ design: '# D\n\n## Components\n- a\n' }),
    ]);
    expect(v.issues.map((i) => i.message)).toEqual([
      'The content is very short (22 characters).',
      'The design has no mermaid diagram.',
    ]);
  });
});

describe('tokens and streaming', () => {
  it('usage counts the prompt and the completion with the real tokenizer', async () => {
    const r = req('scribe');
    const result = await new OfflineChatModel().complete(r);
    expect(result.usage.prompt).toBe(countMessageTokens(r.messages));
    expect(result.usage.completion).toBe(countTextTokens(result.content));
    expect(result.usage.total).toBe(result.usage.prompt + result.usage.completion);
  });

  it('streams token by token; the deltas concatenate to exactly the completed content', async () => {
    for (const r of [
      req('architect'),
      req('echo', 'Ünïcode ✓ 日本語のテキスト 🚀🚀 done'),
      req('validator'),
    ]) {
      const model = new OfflineChatModel();
      const done = await model.complete(r);
      const { deltas, result } = await collect(model, r);
      expect(deltas.join('')).toBe(done.content);
      // One delta per token, except where a character spans tokens (the emoji).
      expect(deltas.length).toBeLessThanOrEqual(done.usage.completion);
      expect(deltas.length).toBeGreaterThan(done.usage.completion * 0.8);
      expect(result).toEqual(done);
    }
  });

  it('maxTokens truncates the completion (finish reason length), streamed or not', async () => {
    const model = new OfflineChatModel();
    const full = await model.complete(req('architect'));
    const cut = await model.complete(req('architect', PROMPT, { maxTokens: 20 }));
    expect(cut.finishReason).toBe('length');
    expect(cut.usage.completion).toBeLessThanOrEqual(20);
    expect(cut.usage.completion).toBeGreaterThan(15);
    expect(full.content.startsWith(cut.content)).toBe(true);
    const { deltas, result } = await collect(model, req('architect', PROMPT, { maxTokens: 20 }));
    expect(deltas.join('')).toBe(cut.content);
    expect(result.finishReason).toBe('length');
    expect((await model.complete(req('echo', 'short', { maxTokens: 20 }))).finishReason).toBe('stop');
  });
});

describe('options', () => {
  it('faults are consumed one per call, in order, then calls succeed', async () => {
    const model = new OfflineChatModel({ faults: ['429', '429:250', '500', 'timeout', 'malformed', 'ok'] });
    const outcome = async () => {
      try {
        const r = await model.complete(req('validator', 'Review: # T'));
        return JSON.parse(r.content) ? 'json' : 'other';
      } catch (err) {
        if (err instanceof SyntaxError) return 'malformed';
        const e = err as LlmError;
        return `${e.code}${e.retryAfterMs === undefined ? '' : `:${e.retryAfterMs}`}`;
      }
    };
    const seen = [];
    for (let i = 0; i < 7; i++) seen.push(await outcome());
    expect(seen).toEqual([
      'LLM.RATE_LIMITED:10',
      'LLM.RATE_LIMITED:250',
      'LLM.SERVER_ERROR',
      'LLM.TIMEOUT',
      'malformed',
      'json',
      'json',
    ]);
    expect(model.pendingFaults).toBe(0);
    expect(() => parseFaults(['503'])).toThrow(ConfigError);
    expect(() => parseFaults(['503'])).toThrow(/OFFLINE_FAULTS/);
  });

  it('latencyMs delays the answer; tokenDelayMs spaces the streamed tokens', async () => {
    let started = Date.now();
    await new OfflineChatModel({ latencyMs: 60 }).complete(req('echo', 'hi'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    started = Date.now();
    const { deltas } = await collect(
      new OfflineChatModel({ tokenDelayMs: 15 }),
      req('echo', 'one two three four five'),
    );
    expect(deltas).toHaveLength(5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 15 - 5);
  });

  it('an aborted signal cancels, before or during the latency', async () => {
    const aborted = AbortSignal.abort();
    await expect(
      new OfflineChatModel().complete(req('echo', 'x', { signal: aborted })),
    ).rejects.toMatchObject({
      code: 'LLM.CANCELLED',
    });
    const controller = new AbortController();
    const pending = new OfflineChatModel({ latencyMs: 5_000 }).complete(
      req('echo', 'x', { signal: controller.signal }),
    );
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'LLM.CANCELLED' });
  });

  it('is cheap: repeated prompts are answered from the per-prompt cache', async () => {
    const model = new OfflineChatModel();
    const r = req('architect');
    await model.complete(r);
    const started = performance.now();
    for (let i = 0; i < 1000; i++) await model.complete(r);
    expect((performance.now() - started) / 1000).toBeLessThan(0.3);
  });
});
