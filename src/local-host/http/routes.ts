/**
 * ASP.NET Core route templates, as the Functions host uses them for HTTP trigger routes:
 * literals (case-insensitive), `{name}`, `{name?}`, `{name=default}`, `{*catchAll}`, inline constraints
 * (`{id:int:min(1)}`), complex segments (`{file}.{ext?}`) and `{{`/`}}` escapes.
 */
import { parseConstraint, type RouteConstraint } from './constraints';

export interface RouteParameter {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue?: string;
  constraints: RouteConstraint[];
}

export type SegmentPart = { kind: 'literal'; text: string } | { kind: 'param'; param: RouteParameter };

export interface RouteTemplate {
  readonly text: string;
  readonly segments: SegmentPart[][];
  /** ASP.NET inbound precedence digit per segment: lower sorts first (more specific). */
  readonly precedence: number[];
}

/** Parses a template such as `products/{category:alpha}/{id:int?}`. Throws on malformed templates. */
export function parseRouteTemplate(text: string): RouteTemplate {
  const trimmed = text.replace(/^~?\/+/, '').replace(/\/+$/, '');
  const segments: SegmentPart[][] = trimmed === '' ? [] : splitSegments(trimmed).map(parseSegment);
  const names = new Set<string>();
  segments.forEach((parts, i) => {
    for (const part of parts) {
      if (part.kind !== 'param') continue;
      const key = part.param.name.toLowerCase();
      if (names.has(key))
        throw new Error(`The route parameter name '${part.param.name}' appears more than once.`);
      names.add(key);
      if (part.param.catchAll && (i !== segments.length - 1 || parts.length > 1)) {
        throw new Error(`A catch-all parameter can only be the last segment of a route: '${text}'.`);
      }
      if (part.param.optional && parts.length > 1 && part !== parts[parts.length - 1]) {
        throw new Error(`An optional parameter must be at the end of its segment: '${text}'.`);
      }
    }
  });
  return { text: trimmed, segments, precedence: segments.map(precedenceDigit) };
}

/** Splits on `/` outside `{...}` (a regex constraint may contain a slash). */
function splitSegments(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let inParam = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (!inParam && (c === '{' || c === '}') && text[i + 1] === c) {
      current += c + c;
      i++;
    } else if (inParam && c === '}' && text[i + 1] === '}') {
      current += '}}';
      i++;
    } else {
      if (c === '{') inParam = true;
      else if (c === '}') inParam = false;
      if (c === '/' && !inParam) {
        out.push(current);
        current = '';
      } else current += c;
    }
  }
  out.push(current);
  if (out.some((s) => s === '')) throw new Error(`The route template '${text}' has an empty segment.`);
  return out;
}

function parseSegment(segment: string): SegmentPart[] {
  const parts: SegmentPart[] = [];
  let literal = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if ((c === '{' || c === '}') && segment[i + 1] === c) {
      literal += c;
      i++;
    } else if (c === '{') {
      let inner = '';
      for (i++; i < segment.length; i++) {
        const ch = segment[i];
        if ((ch === '}' || ch === '{') && segment[i + 1] === ch) inner += segment[++i];
        else if (ch === '}') break;
        else if (ch === '{')
          throw new Error(`Unescaped '{' inside a parameter of route segment '${segment}'.`);
        else inner += ch;
      }
      if (i >= segment.length) throw new Error(`Unclosed '{' in route segment '${segment}'.`);
      if (literal) parts.push({ kind: 'literal', text: literal });
      literal = '';
      if (parts[parts.length - 1]?.kind === 'param') {
        throw new Error(`Two parameters must be separated by a literal in route segment '${segment}'.`);
      }
      parts.push({ kind: 'param', param: parseParameter(inner) });
    } else if (c === '}') throw new Error(`Unmatched '}' in route segment '${segment}'.`);
    else literal += c;
  }
  if (literal) parts.push({ kind: 'literal', text: literal });
  return parts;
}

/** `*rest`, `id:int:min(1)`, `name?`, `lang=en`: the text between the braces. */
export function parseParameter(text: string): RouteParameter {
  let rest = text;
  const catchAll = rest.startsWith('*');
  rest = rest.replace(/^\*{1,2}/, '');
  const nameEnd = rest.search(/[:=?]/);
  const name = (nameEnd < 0 ? rest : rest.slice(0, nameEnd)).trim();
  if (!/^[^{}/*?=:]+$/.test(name)) throw new Error(`Invalid route parameter name in '{${text}}'.`);
  rest = nameEnd < 0 ? '' : rest.slice(nameEnd);
  const constraints: RouteConstraint[] = [];
  while (rest.startsWith(':')) {
    const end = constraintEnd(rest);
    constraints.push(parseConstraint(rest.slice(1, end)));
    rest = rest.slice(end);
  }
  let optional = false;
  let defaultValue: string | undefined;
  if (rest === '?') optional = true;
  else if (rest.startsWith('=')) defaultValue = rest.slice(1);
  else if (rest !== '') throw new Error(`Invalid route parameter '{${text}}'.`);
  if (optional && catchAll) throw new Error(`A catch-all parameter cannot be marked optional: '{${text}}'.`);
  return { name, optional, catchAll, defaultValue, constraints };
}

/** Where a `:constraint` ends: at the next `:`, `=` or final `?`, except inside `(...)`. */
function constraintEnd(text: string): number {
  let i = 1;
  while (i < text.length && !/[:=(]/.test(text[i]!) && !(text[i] === '?' && i === text.length - 1)) i++;
  if (text[i] !== '(') return i;
  // Arguments end at a `)` followed by another constraint, a default, the optional marker or the end.
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] !== ')') continue;
    const next = text.slice(j + 1);
    if (next === '' || next === '?' || next[0] === ':' || next[0] === '=') return j + 1;
  }
  throw new Error(`Route constraint '${text.slice(1)}' has no closing ')'.`);
}

function precedenceDigit(parts: SegmentPart[]): number {
  const part = parts[0];
  if (parts.length > 1 || !part) return 2;
  if (part.kind === 'literal') return 1;
  const digit = part.param.catchAll ? 5 : 3;
  return part.param.constraints.length > 0 ? digit - 1 : digit;
}

/** Negative when `a` should be tried before `b` (ASP.NET `RoutePrecedence.ComputeInbound`, then text). */
export function compareRoutes(a: RouteTemplate, b: RouteTemplate): number {
  for (let i = 0; i < Math.max(a.precedence.length, b.precedence.length); i++) {
    const d = (a.precedence[i] ?? 0) - (b.precedence[i] ?? 0);
    if (d !== 0) return d;
  }
  const [x, y] = [a.text.toLowerCase(), b.text.toLowerCase()];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Splits a request path (still percent-encoded) into decoded segments; a trailing slash is ignored. */
export function splitPath(pathname: string): string[] {
  const trimmed = pathname.replace(/^\/+/, '').replace(/\/$/, '');
  return trimmed === '' ? [] : trimmed.split('/').map(safeDecode);
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The route values when `path` (decoded segments) matches the template, else undefined. */
export function matchRoute(template: RouteTemplate, path: string[]): Record<string, string> | undefined {
  const values: Record<string, string> = {};
  const { segments } = template;
  for (let i = 0; i < segments.length; i++) {
    const parts = segments[i]!;
    const first = parts[0]!;
    if (first.kind === 'param' && first.param.catchAll) {
      return bindValue(first.param, path.slice(i).join('/'), values) ? values : undefined;
    }
    const value = path[i];
    if (value === undefined) {
      // Past the end of the path: only optional / defaulted parameter segments may remain.
      if (parts.length > 1 || first.kind !== 'param' || !bindValue(first.param, '', values)) return undefined;
    } else if (!matchSegment(parts, value, values)) return undefined;
  }
  return path.length <= segments.length ? values : undefined;
}

function matchSegment(parts: SegmentPart[], value: string, values: Record<string, string>): boolean {
  const only = parts[0]!;
  if (parts.length === 1) {
    if (only.kind === 'literal') return only.text.toLowerCase() === value.toLowerCase();
    return value !== '' && bindValue(only.param, value, values);
  }
  const last = parts[parts.length - 1]!;
  const attempts = [parts];
  // `{file}.{ext?}` also matches "file": retry without the trailing literal + optional parameter.
  if (last.kind === 'param' && last.param.optional && parts.length > 2) attempts.push(parts.slice(0, -2));
  for (const attempt of attempts) {
    const match = complexRegex(attempt).exec(value);
    if (!match) continue;
    const params = attempt.flatMap((p) => (p.kind === 'param' ? [p.param] : []));
    const bound: Record<string, string> = {};
    if (params.every((p, i) => bindValue(p, match[i + 1] ?? '', bound))) {
      Object.assign(values, bound);
      return true;
    }
    return false;
  }
  return false;
}

/** Greedy captures: each parameter takes as much as it can, like ASP.NET's right-to-left matching. */
function complexRegex(parts: SegmentPart[]): RegExp {
  const body = parts.map((p) =>
    p.kind === 'literal' ? p.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : '(.+)',
  );
  return new RegExp(`^${body.join('')}$`, 'i');
}

/** Checks the constraints and stores the value (or the default, for an empty one). */
function bindValue(param: RouteParameter, value: string, values: Record<string, string>): boolean {
  if (value === '') {
    if (param.defaultValue !== undefined) values[param.name] = param.defaultValue;
    return param.optional || param.catchAll || param.defaultValue !== undefined;
  }
  if (!param.constraints.every((c) => c.test(value))) return false;
  values[param.name] = value;
  return true;
}
