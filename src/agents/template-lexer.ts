/**
 * Lexing for the prompt templates: the source split into text and tags (comments dropped, `-` trim
 * markers applied), and a tag's body split into tokens. Errors carry line and column.
 */
import { AgentError } from './errors';

/** 1-based line and column of an offset. */
export function lineCol(source: string, pos: number): { line: number; column: number } {
  const before = source.slice(0, pos);
  const line = before.split('\n').length;
  return { line, column: pos - before.lastIndexOf('\n') };
}

export function syntaxError(source: string, pos: number, problem: string): AgentError {
  const { line, column } = lineCol(source, pos);
  return new AgentError(
    'AGENT.TEMPLATE_INVALID',
    `Template syntax error at line ${line}, column ${column}: ${problem}`,
    {
      line,
      column,
    },
  );
}

export interface Tag {
  type: 'text' | 'output' | 'stmt';
  body: string;
  /** Offset of the body (or the text) in the source. */
  pos: number;
  trimBefore?: boolean;
  trimAfter?: boolean;
}

const CLOSERS = { '{': '}}', '%': '%}', '#': '#}' } as const;

/** Splits the source into text, `{{ }}` and `{% %}` tags; drops comments; applies `-` trim markers. */
export function scan(src: string): Tag[] {
  const tags: Tag[] = [];
  const opener = /\{[{%#]/g;
  let i = 0;
  for (;;) {
    opener.lastIndex = i;
    const m = opener.exec(src);
    if (!m) break;
    if (m.index > i) tags.push({ type: 'text', body: src.slice(i, m.index), pos: i });
    const kind = src[m.index + 1] as keyof typeof CLOSERS;
    const trimBefore = src[m.index + 2] === '-';
    const bodyStart = m.index + 2 + (trimBefore ? 1 : 0);
    let j = bodyStart;
    while (j < src.length && !src.startsWith(CLOSERS[kind], j)) {
      const ch = src[j];
      if (kind !== '#' && (ch === '"' || ch === "'")) {
        for (j++; j < src.length && src[j] !== ch; j++) if (src[j] === '\\') j++;
      }
      j++;
    }
    if (j >= src.length) throw syntaxError(src, m.index, `'${m[0]}' is never closed with '${CLOSERS[kind]}'`);
    const trimAfter = j > bodyStart && src[j - 1] === '-';
    const body = src.slice(bodyStart, trimAfter ? j - 1 : j);
    const tag: Tag = { type: kind === '{' ? 'output' : 'stmt', body, pos: bodyStart, trimBefore, trimAfter };
    if (kind === '#') tags.push({ type: 'text', body: '', pos: m.index, trimBefore, trimAfter });
    else tags.push(tag);
    i = j + 2;
  }
  if (i < src.length) tags.push({ type: 'text', body: src.slice(i), pos: i });
  tags.forEach((t, k) => {
    const prev = tags[k - 1];
    const next = tags[k + 1];
    if (t.trimBefore && prev?.type === 'text') prev.body = prev.body.trimEnd();
    if (t.trimAfter && next?.type === 'text') next.body = next.body.trimStart();
  });
  return tags;
}

export type Tok = { t: 'name' | 'num' | 'str' | 'op' | 'end'; v: string; value?: unknown; pos: number };
const TOKEN =
  /\s+|([A-Za-z_]\w*)|(\d+(?:\.\d+)?)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(==|!=|<=|>=|[<>.|(),[\]])/y;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r' };

export function lex(src: string, body: string, base: number): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < body.length) {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(body);
    if (!m) throw syntaxError(src, base + i, `unexpected character '${body[i]}'`);
    const pos = base + i;
    if (m[1]) toks.push({ t: 'name', v: m[1], pos });
    else if (m[2]) toks.push({ t: 'num', v: m[2], value: Number(m[2]), pos });
    else if (m[3]) {
      const value = m[3].slice(1, -1).replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? c);
      toks.push({ t: 'str', v: m[3], value, pos });
    } else if (m[4]) toks.push({ t: 'op', v: m[4], pos });
    i = TOKEN.lastIndex;
  }
  toks.push({ t: 'end', v: 'end of tag', pos: base + body.length });
  return toks;
}
