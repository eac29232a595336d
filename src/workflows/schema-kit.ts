/**
 * Building blocks for the workflow schemas: camelCase keys with snake_case aliases, strict objects
 * whose unknown-field errors name the fields that exist, readable messages, and `steps[2].agent`
 * paths. Kept apart so definition.ts reads as the shape of a definition.
 */
import { z } from 'zod';
import type { Violation } from '../errors';
import { durationProblem, parseDuration } from './duration';
import { didYouMean } from './suggest';

const camel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `depends_on` → `dependsOn`, on one level of an object (never inside `input` or `context`, whose keys
 * are the author's). A key given both ways, differently, is kept so the strict object reports it.
 */
export function camelizeKeys(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const name = camel(key);
    const clash = name !== key && name in value && JSON.stringify(value[name]) !== JSON.stringify(v);
    out[clash ? key : name] = v;
  }
  return out;
}

function unknownKeys(what: string, keys: string[], known: string[]): string {
  const each = keys.map((key) =>
    known.includes(camel(key))
      ? `give ${camel(key)} or ${key}, not both`
      : `unknown field '${key}'${didYouMean(camel(key), known)}`,
  );
  return `${each.join('; ')} (${what} takes: ${known.join(', ')})`;
}

/** A strict object: unknown fields are errors (a typo must not silently drop a setting). */
export function strict<T extends z.core.$ZodLooseShape>(what: string, shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') return unknownKeys(what, iss.keys, known);
      if (iss.code === 'invalid_type') return `must be an object (${what})`;
      return undefined;
    },
  });
}

/** A strict object that also takes snake_case field names. */
export function aliased<T extends z.core.$ZodLooseShape>(what: string, shape: T) {
  return z.preprocess(camelizeKeys, strict(what, shape));
}

/** An ISO 8601 duration longer than zero (a zero timeout or retry interval is a mistake), kept as text. */
export function duration(description: string) {
  return z
    .string()
    .superRefine((text, ctx) => {
      const problem = durationProblem(text);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
      else if (parseDuration(text) === 0)
        ctx.addIssue({ code: 'custom', message: `'${text}' must be longer than zero` });
    })
    .describe(`${description} (ISO 8601 duration, e.g. PT10M, P1DT2H, PT0.5S)`);
}

/** `{{ input.x }}` → `input.x`: a path or condition may be written with or without braces. */
export function unbraced(text: string): string {
  const m = /^\s*\{\{(.*)\}\}\s*$/s.exec(text);
  return m && !m[1]!.includes('}}') ? m[1]!.trim() : text.trim();
}

const article = (word: string): string => (/^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`);

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `'${v}'`;
  return typeof v === 'object' ? 'an object' : (JSON.stringify(v) ?? typeof v);
}

/** Messages for zod's generic issues (the schemas set their own for the specific ones). */
export const issueMessages: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${iss.expected === 'array' ? 'a list' : article(iss.expected)}, got ${kindOf(iss.input)}`;
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => `'${String(v)}'`).join(', ')}, got ${kindOf(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'array') return `needs at least ${String(iss.minimum)} item(s)`;
      if (iss.origin === 'string') return Number(iss.minimum) <= 1 ? 'must not be empty' : undefined;
      return `must be ${iss.inclusive ? 'at least' : 'greater than'} ${String(iss.minimum)}, got ${String(iss.input)}`;
    case 'too_big':
      if (iss.origin === 'array') return `takes at most ${String(iss.maximum)} items`;
      if (iss.origin === 'string') return `must be at most ${String(iss.maximum)} characters`;
      return `must be at most ${String(iss.maximum)}, got ${String(iss.input)}`;
    default:
      return undefined;
  }
};

/** `['steps', 2, 'agent']` → `steps[2].agent`. */
export function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : `${i === 0 ? '' : '.'}${String(seg)}`))
    .join('');
}

/** Top-level violations first, then by step (stable otherwise), so a long list reads in order. */
export function byStep(violations: Violation[]): Violation[] {
  const rank = (v: Violation): number => Number(/^steps\[(\d+)\]/.exec(v.path)?.[1] ?? -1);
  return [...violations].sort((a, b) => rank(a) - rank(b));
}

/** A zod issue as a violation; an unknown field's path names the field. */
export function toViolation(issue: z.core.$ZodIssue): Violation {
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys.length === 1) path.push(issue.keys[0]!);
  return { path: pathText(path), message: issue.message };
}
