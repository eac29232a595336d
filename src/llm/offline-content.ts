/**
 * What the offline model writes: role-shaped text derived from the prompt, deterministic (variants
 * are picked by a hash of the prompt, never at random). Pure string work, no I/O, so it is cheap
 * enough for the benchmark and reproducible in tests.
 */
import type { ChatMessage } from './types';

export type OfflineRole = 'architect' | 'builder' | 'validator' | 'scribe' | 'echo' | 'generic';

/** FNV-1a, 32-bit: a fast, stable hash to pick variants with. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const ROLE_WORDS: [RegExp, OfflineRole][] = [
  [/validat|review|critic|verif|qa\b|quality/, 'validator'],
  [/architect|design/, 'architect'],
  [/scribe|document|writer/, 'scribe'],
  [/build|engineer|develop|coder|programmer|implement/, 'builder'],
  [/echo|repeat/, 'echo'],
];

/** The role to answer as: the agent's role when known, else guessed from "You are …" in the system prompt. */
export function detectRole(agentRole: string | undefined, messages: ChatMessage[]): OfflineRole {
  const match = (text: string) => ROLE_WORDS.find(([re]) => re.test(text))?.[1];
  if (agentRole) return match(agentRole.toLowerCase()) ?? 'generic';
  const system = messages.find((m) => m.role === 'system')?.content.toLowerCase() ?? '';
  // "You are a senior software engineer who turns designs into code": the persona ends at "who".
  const persona = /\byou are (?:an? |the )?([\w -]{3,60})/
    .exec(system)?.[1]
    ?.split(/\b(?:who|that|with|and)\b/)[0];
  return (persona && match(persona)) || match(system.slice(0, 300)) || 'generic';
}

/** Words that are not "key nouns": function words, imperative verbs and vague adjectives. */
const STOP = new Set(
  [
    'the and for with that this from into onto over under about above their there them they what when where',
    'which while will would should could must shall need needs want wants please can our your you its are was',
    'were been being have has had does did not but also all any each every some more most less very just only',
    'than then such like via per how why who whom one two three way able both other others same own within',
    'without well good best ensure include includes including provide provides get set let run runs task tasks',
    'make makes build builds create design write implement develop use uses used using add adds support supports',
    'allow allows handle handles keep keeps plan propose outline review validate check summarize summarise',
    'explain describe new simple small basic given based following custom fast secure scalable robust reliable',
    'low high real modern multiple various team teams system application app solution',
  ]
    .join(' ')
    .split(' '),
);

/** Distinct content words of the text, in order of first use: the "key nouns" of a prompt. */
export function keyNouns(text: string, max = 5): string[] {
  const seen = new Set<string>();
  for (const word of text.toLowerCase().match(/[a-z][a-z0-9]{2,}/g) ?? []) {
    if (STOP.has(word) || seen.has(word)) continue;
    seen.add(word);
    if (seen.size === max) break;
  }
  const nouns = [...seen];
  for (const fallback of ['service', 'storage', 'events']) if (nouns.length < 2) nouns.push(fallback);
  return nouns;
}

const capitalize = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1);
const pascal = (w: string): string =>
  w
    .split(/[^a-z0-9]+/i)
    .map(capitalize)
    .join('');
const singular = (w: string): string =>
  w.endsWith('ies') ? `${w.slice(0, -3)}y` : w.endsWith('ss') || !w.endsWith('s') ? w : w.slice(0, -1);

const SMALL = /^(a|an|and|as|at|by|for|in|of|on|or|the|to|with|from|into|via)$/i;

/**
 * A title from the prompt's first clause: leading verb and articles dropped, at most 8 words, no
 * dangling small word, title-cased (small words stay lower-case, acronyms stay upper-case).
 */
export function titleFrom(prompt: string): string {
  const first = prompt.trim().split(/\n|[.!?:;,](?:\s|$)/)[0] ?? '';
  const words = first
    .replace(/[^\p{L}\p{N}\s-]/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
  while (
    words.length > 1 &&
    /^(please|design|build|create|write|implement|make|develop|document|draft|plan|propose|outline|review|validate|check|explain|describe|summari[sz]e|an?|the)$/i.test(
      words[0]!,
    )
  ) {
    words.shift();
  }
  const kept = words.slice(0, 8);
  while (kept.length > 1 && SMALL.test(kept[kept.length - 1]!)) kept.pop();
  const title = kept.map((w, i) => (i > 0 && SMALL.test(w) ? w.toLowerCase() : capitalize(w))).join(' ');
  return title || 'Untitled';
}

const pick = <T>(options: readonly T[], h: number, salt = 0): T =>
  options[((h >>> salt) & 0xff) % options.length]!;

export function writeArchitect(prompt: string, h: number): string {
  const title = titleFrom(prompt);
  const nouns = keyNouns(prompt);
  const labels = nouns.map((n) => `${capitalize(n)} service`);
  const store = pick(['Azure Cosmos DB', 'Azure SQL Database', 'Azure Table Storage'], h, 3);
  const queue = pick(['Azure Service Bus', 'Azure Storage Queues', 'Azure Event Grid'], h, 7);
  const dir = pick(['LR', 'TD'], h, 11);
  const nodes = nouns.map((n, i) => `  api --> n${i + 1}[${capitalize(n)}]`);
  const links = nouns.map((_, i) => `  n${i + 1} --> ${i % 2 === 0 ? 'db' : 'bus'}`);
  return [
    `# ${title}`,
    '',
    '## Overview',
    `${title} is split into ${nouns.length} focused services behind one HTTP API. ` +
      `${pick(['Each service owns its data', 'Services share nothing but events', 'State lives in one managed store'], h)}; ` +
      `work that can wait goes through ${queue}, so spikes are absorbed instead of dropped.`,
    '',
    '## Components',
    '- **API**: validates requests, authenticates callers and routes to the services.',
    ...labels.map((l, i) => `- **${l}**: owns the ${nouns[i]} rules and exposes them to the API.`),
    `- **Data store** (${store}): durable state, partitioned by tenant.`,
    `- **Message bus** (${queue}): decouples slow work and retries it.`,
    '',
    '## Data flow',
    '1. The client calls the API over HTTPS; the request is validated at the edge.',
    `2. The API calls the ${labels[0]}, which reads and writes the data store.`,
    `3. Follow-up work (${nouns.slice(1).join(', ')}) is published to the message bus and handled asynchronously.`,
    '4. Results are stored and the client polls or receives a notification.',
    '',
    '```mermaid',
    `flowchart ${dir}`,
    '  client([Client]) --> api[API]',
    ...nodes,
    ...links,
    '  bus{{Message bus}} --> worker[Worker]',
    '  worker --> db[(Data store)]',
    '```',
    '',
    '## Deployment',
    `- Azure Functions (Flex Consumption) hosts the API and the workers; ${store} and ${queue} are managed services.`,
    '- One user-assigned managed identity with least-privilege role assignments; no keys in settings.',
    '- Application Insights collects traces, metrics and logs; infrastructure is declared in Bicep.',
    '',
    '## Risks and mitigations',
    `- **Hot partitions in the data store**: partition by tenant and ${nouns[0]} id; load-test before launch.`,
    '- **Duplicate messages**: handlers are idempotent (dedupe by message id).',
    '- **Downstream outages**: retries with backoff, a circuit breaker and a dead-letter queue with alerts.',
    '',
  ].join('\n');
}

/** Component names from a design in the conversation (`- **Name**` bullets), else the prompt's nouns. */
function components(prompt: string, context: string): string[] {
  const fromDesign = [...context.matchAll(/^- \*\*([A-Za-z][\w ]{1,40})\*\*/gm)]
    .map((m) => m[1]!.replace(/ service$/i, '').toLowerCase())
    .filter((n) => !['api', 'data store', 'message bus'].includes(n));
  const names = fromDesign.length > 0 ? fromDesign : keyNouns(prompt, 3);
  return [...new Set(names.map((n) => n.replace(/[^a-z0-9]+/g, '-')))].slice(0, 2);
}

function serviceFile(name: string): string {
  const type = pascal(singular(name));
  return [
    `/** ${type} records: an in-memory store with input validation. */`,
    `export interface ${type} {`,
    '  id: string;',
    '  name: string;',
    '  createdAt: string;',
    '}',
    '',
    `export class ${type}Service {`,
    `  private readonly items = new Map<string, ${type}>();`,
    '',
    `  constructor(private readonly now: () => Date = () => new Date()) {}`,
    '',
    `  create(name: string): ${type} {`,
    "    if (!name.trim()) throw new Error('name is required');",
    `    const item: ${type} = {`,
    `      id: \`${singular(name)}-\${this.items.size + 1}\`,`,
    '      name: name.trim(),',
    '      createdAt: this.now().toISOString(),',
    '    };',
    '    this.items.set(item.id, item);',
    '    return item;',
    '  }',
    '',
    `  get(id: string): ${type} | undefined {`,
    '    return this.items.get(id);',
    '  }',
    '',
    `  list(): ${type}[] {`,
    '    return [...this.items.values()];',
    '  }',
    '}',
  ].join('\n');
}

export function writeBuilder(prompt: string, context: string, h: number): string {
  const names = components(prompt, context);
  const files = names.map(
    (n) => `\`src/${n}.ts\`\n\n\`\`\`ts title="src/${n}.ts"\n${serviceFile(n)}\n\`\`\``,
  );
  const first = names[0]!;
  const type = pascal(singular(first));
  const sample = pick(['first', 'alpha', 'demo'], h);
  const test = [
    `\`test/${first}.test.ts\``,
    '',
    `\`\`\`ts title="test/${first}.test.ts"`,
    `import { ${type}Service } from '../src/${first}';`,
    '',
    `describe('${type}Service', () => {`,
    `  it('creates and lists ${first}', () => {`,
    `    const service = new ${type}Service(() => new Date('2024-01-01T00:00:00Z'));`,
    `    const created = service.create('${sample}');`,
    '    expect(service.get(created.id)).toEqual(created);',
    '    expect(service.list()).toHaveLength(1);',
    '  });',
    '',
    "  it('rejects an empty name', () => {",
    `    expect(() => new ${type}Service().create('  ')).toThrow('name is required');`,
    '  });',
    '});',
    '```',
  ].join('\n');
  return [
    `Implementation of ${titleFrom(prompt)}: ${names.length} module(s) and a test.`,
    '',
    ...files.flatMap((f) => [f, '']),
    test,
    '',
  ].join('\n');
}

export function writeScribe(prompt: string, h: number): string {
  const title = titleFrom(prompt);
  const nouns = keyNouns(prompt, 3);
  const type = pascal(singular(nouns[0]!));
  return [
    `# ${title}`,
    '',
    '## Overview',
    `This guide covers ${title.toLowerCase()}: what it does, how to use it and how to run it. ` +
      `It focuses on ${nouns.join(', ')}.`,
    '',
    '## Usage',
    '```ts',
    `import { ${type}Service } from './${nouns[0]}';`,
    '',
    `const service = new ${type}Service();`,
    `const item = service.create('${pick(['example', 'sample', 'first item'], h)}');`,
    'console.log(service.get(item.id));',
    '```',
    '',
    '## API reference',
    '| Member | Description |',
    '| --- | --- |',
    '| `create(name)` | Validates and stores a new item; returns it with its id. |',
    '| `get(id)` | Returns the item, or `undefined` when it does not exist. |',
    '| `list()` | Returns every item in creation order. |',
    '',
    '## Operations',
    '- **Configuration**: settings come from app settings; secrets from Key Vault references.',
    '- **Monitoring**: requests and failures are traced in Application Insights; alert on error rate.',
    '- **Troubleshooting**: check the logs by operation id; retries are safe because handlers are idempotent.',
    '',
  ].join('\n');
}

export function writeGeneric(prompt: string, h: number): string {
  const title = titleFrom(prompt);
  const nouns = keyNouns(prompt, 4);
  return [
    `# ${title}`,
    '',
    '## Summary',
    `${pick(['In short', 'At a glance', 'The short answer'], h)}: start from ${nouns[0]}, ` +
      `then address ${nouns.slice(1).join(' and ')} one at a time.`,
    '',
    '## Details',
    ...nouns.map((n) => `- **${capitalize(n)}**: what it needs, what can go wrong and how to check it.`),
    '',
    '## Next steps',
    '1. Agree on the scope and the acceptance criteria.',
    '2. Build the smallest slice end to end and measure it.',
    '',
  ].join('\n');
}

/** A value that satisfies a JSON schema (the common keywords), with `text` for every string. */
export function fromSchema(schema: unknown, text: string, depth = 0): unknown {
  if (!schema || typeof schema !== 'object' || depth > 8) return null;
  const s = schema as Record<string, unknown>;
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum)) return (s.enum as unknown[])[0] ?? null;
  const variants = s.anyOf ?? s.oneOf;
  if (Array.isArray(variants)) return fromSchema(variants[0], text, depth + 1);
  const type = Array.isArray(s.type) ? (s.type as unknown[]).find((t) => t !== 'null') : s.type;
  switch (type ?? (s.properties ? 'object' : 'string')) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, fromSchema(v, text, depth + 1)]));
    }
    case 'array': {
      const count = Math.max(1, typeof s.minItems === 'number' ? s.minItems : 1);
      return Array.from({ length: count }, () => fromSchema(s.items, text, depth + 1));
    }
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : 0;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return text;
  }
}
