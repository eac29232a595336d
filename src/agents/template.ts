/**
 * Jinja-like prompt templates: `{{ input.topic | default('x') }}`, `{% if %}`/`{% for %}`, `{# #}`.
 * Undefined variables are strict (as Jinja's StrictUndefined): using one is an error naming the
 * variable and its line, never a silent empty string, because a prompt missing its input is a bug
 * that otherwise only shows up as a poor answer. Templates are parsed once and cached.
 */
import { AgentError } from './errors';
import { lineCol } from './template-lexer';
import { parseTemplate, type Expr, type Node, type PathExpr } from './template-parser';

export interface RenderOptions {
  /** What is being rendered, for error messages (`system prompt of agent 'architect'`). */
  name?: string;
}

export interface TemplateReference {
  /** Dotted path from a top-level variable: `input.topic`, `steps.design.output`. */
  path: string;
  /** Only used under `| default(...)` or in an `is defined` test. */
  optional: boolean;
  line: number;
}

export interface CompiledTemplate {
  readonly source: string;
  readonly references: TemplateReference[];
  render(vars: Record<string, unknown>, options?: RenderOptions): string;
}

/** A variable that does not resolve; only `default` and `is defined` may look at it. */
class Missing {
  constructor(
    readonly expr: PathExpr,
    /** How many leading segments did resolve (-1: not even the root). */
    readonly resolved: number,
  ) {}
}

interface Ctx {
  source: string;
  name: string;
  vars: Record<string, unknown>;
  locals: Map<string, unknown>[];
}

const has = (o: object, key: string | number): boolean => Object.prototype.hasOwnProperty.call(o, key);

function lookup(e: PathExpr, ctx: Ctx): unknown {
  let value: unknown;
  const local = [...ctx.locals].reverse().find((scope) => scope.has(e.root));
  if (local) value = local.get(e.root);
  else if (has(ctx.vars, e.root)) value = ctx.vars[e.root];
  if (value === undefined) return new Missing(e, -1);
  for (const [k, seg] of e.segments.entries()) {
    const container: unknown = value;
    value = undefined;
    if (Array.isArray(container) && typeof seg === 'number') value = container[seg];
    else if (container !== null && typeof container === 'object' && has(container, seg)) {
      value = (container as Record<string | number, unknown>)[seg];
    }
    if (value === undefined) return new Missing(e, k);
  }
  return value;
}

function required(v: unknown, ctx: Ctx): unknown {
  if (!(v instanceof Missing)) return v;
  const { line, column } = lineCol(ctx.source, v.expr.pos);
  const where =
    v.resolved < 0
      ? ''
      : ` ('${[v.expr.root, ...v.expr.segments.slice(0, v.resolved)].join('.')}' has no '${String(v.expr.segments[v.resolved])}')`;
  throw new AgentError(
    'AGENT.TEMPLATE_VARIABLE_MISSING',
    `${ctx.name}: variable '${v.expr.text}' is not defined${where} at line ${line}, column ${column}. ` +
      `Pass it in the variables, or give a fallback: {{ ${v.expr.text} | default('...') }}`,
    { variable: v.expr.text, line, column },
  );
}

export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/** How a value appears in a prompt: strings as they are, objects and lists as compact JSON. */
export function toText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return v === null || v === undefined ? '' : (JSON.stringify(v) ?? '');
}

const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b));

/** A value of the wrong type at render time (a list expected, say): the template cannot work with it. */
function typeError(ctx: Ctx, pos: number, problem: string): AgentError {
  const { line, column } = lineCol(ctx.source, pos);
  return new AgentError(
    'AGENT.TEMPLATE_INVALID',
    `${ctx.name}: ${problem} at line ${line}, column ${column}`,
    {
      line,
      column,
    },
  );
}

function applyFilter(e: Extract<Expr, { kind: 'filter' }>, ctx: Ctx): unknown {
  const raw = evaluate(e.target, ctx);
  const arg = (i: number): unknown => (e.args[i] ? required(evaluate(e.args[i], ctx), ctx) : undefined);
  if (e.name === 'default' || e.name === 'd') {
    const fallback = raw instanceof Missing || raw === null || (arg(1) === true && !truthy(raw));
    return fallback ? (arg(0) ?? '') : raw;
  }
  const v = required(raw, ctx);
  switch (e.name) {
    case 'upper':
      return toText(v).toUpperCase();
    case 'lower':
      return toText(v).toLowerCase();
    case 'trim':
      return toText(v).trim();
    case 'json':
    case 'tojson': {
      const indent = arg(0);
      return JSON.stringify(v, null, typeof indent === 'number' ? indent : undefined) ?? 'null';
    }
    case 'join':
      if (!Array.isArray(v)) throw typeError(ctx, e.pos, `'join' needs a list, got ${typeof v}`);
      return v.map(toText).join(toText(arg(0) ?? ''));
    case 'length':
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (v !== null && typeof v === 'object') return Object.keys(v).length;
      throw typeError(ctx, e.pos, `'length' needs a string, list or object, got ${typeof v}`);
    default:
      throw typeError(ctx, e.pos, `unknown filter '${e.name}'`);
  }
}

function evaluate(e: Expr, ctx: Ctx): unknown {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'path':
      return lookup(e, ctx);
    case 'filter':
      return applyFilter(e, ctx);
    case 'not':
      return !truthy(required(evaluate(e.operand, ctx), ctx));
    case 'defined':
      return !(lookup(e.target, ctx) instanceof Missing) !== e.negate;
    case 'logic': {
      // Python semantics: `a or b` is a when a is truthy, else b (and the mirror for `and`).
      const left = required(evaluate(e.left, ctx), ctx);
      if (truthy(left) === (e.op === 'or')) return left;
      return required(evaluate(e.right, ctx), ctx);
    }
    case 'compare': {
      const a = required(evaluate(e.left, ctx), ctx);
      const b = required(evaluate(e.right, ctx), ctx);
      if (e.op === '==') return sameValue(a, b);
      if (e.op === '!=') return !sameValue(a, b);
      const comparable =
        (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');
      if (!comparable)
        throw typeError(ctx, e.pos, `cannot compare ${typeof a} with ${typeof b} using '${e.op}'`);
      const [x, y] = [a as number, b as number];
      return e.op === '<' ? x < y : e.op === '<=' ? x <= y : e.op === '>' ? x > y : x >= y;
    }
  }
}

function renderNodes(nodes: Node[], ctx: Ctx, out: string[]): void {
  for (const node of nodes) {
    if (node.kind === 'text') out.push(node.value);
    else if (node.kind === 'output') out.push(toText(required(evaluate(node.expr, ctx), ctx)));
    else if (node.kind === 'if') {
      const branch = node.branches.find((b) => truthy(required(evaluate(b.test, ctx), ctx)));
      const body = branch ? branch.body : node.otherwise;
      if (body) renderNodes(body, ctx, out);
    } else {
      const items = required(evaluate(node.iterable, ctx), ctx);
      if (!Array.isArray(items)) throw typeError(ctx, node.pos, `'for' needs a list, got ${typeof items}`);
      if (items.length === 0 && node.otherwise) renderNodes(node.otherwise, ctx, out);
      items.forEach((item: unknown, i) => {
        const loop = {
          index: i + 1,
          index0: i,
          first: i === 0,
          last: i === items.length - 1,
          length: items.length,
        };
        ctx.locals.push(
          new Map([
            [node.name, item],
            ['loop', { ...loop, revindex: items.length - i }],
          ]),
        );
        try {
          renderNodes(node.body, ctx, out);
        } finally {
          ctx.locals.pop();
        }
      });
    }
  }
}

/** Every path the template reads, minus loop variables; `optional` when guarded by default/defined. */
function collectReferences(source: string, nodes: Node[]): TemplateReference[] {
  const refs: TemplateReference[] = [];
  const visit = (e: Expr, bound: Set<string>, optional: boolean): void => {
    if (e.kind === 'path') {
      if (!bound.has(e.root)) refs.push({ path: e.text, optional, line: lineCol(source, e.pos).line });
    } else if (e.kind === 'filter') {
      visit(e.target, bound, optional || e.name === 'default' || e.name === 'd');
      e.args.forEach((a) => visit(a, bound, optional));
    } else if (e.kind === 'not') visit(e.operand, bound, optional);
    else if (e.kind === 'defined') visit(e.target, bound, true);
    else if (e.kind === 'logic' || e.kind === 'compare') {
      visit(e.left, bound, optional);
      visit(e.right, bound, optional);
    }
  };
  const walk = (list: Node[], bound: Set<string>): void => {
    for (const n of list) {
      if (n.kind === 'output') visit(n.expr, bound, false);
      else if (n.kind === 'if') {
        for (const b of n.branches) {
          visit(b.test, bound, false);
          walk(b.body, bound);
        }
        if (n.otherwise) walk(n.otherwise, bound);
      } else if (n.kind === 'for') {
        visit(n.iterable, bound, false);
        walk(n.body, new Set([...bound, n.name, 'loop']));
        if (n.otherwise) walk(n.otherwise, bound);
      }
    }
  };
  walk(nodes, new Set());
  return refs;
}

const CACHE_LIMIT = 500;
const cache = new Map<string, CompiledTemplate>();

/** Parses (or takes from the cache) a template; throws AGENT.TEMPLATE_INVALID with line and column. */
export function compileTemplate(source: string): CompiledTemplate {
  const hit = cache.get(source);
  if (hit) {
    cache.delete(source); // re-insert: the Map's order is the recency order
    cache.set(source, hit);
    return hit;
  }
  const nodes = parseTemplate(source);
  const compiled: CompiledTemplate = {
    source,
    references: collectReferences(source, nodes),
    render(vars, options = {}) {
      const out: string[] = [];
      renderNodes(nodes, { source, name: options.name ?? 'Template', vars, locals: [] }, out);
      return out.join('');
    },
  };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(source, compiled);
  return compiled;
}

export function renderTemplate(
  source: string,
  vars: Record<string, unknown>,
  options?: RenderOptions,
): string {
  return compileTemplate(source).render(vars, options);
}

/** The distinct variable paths a template uses (loop variables excluded), in order of first use. */
export function referencedVariables(source: string): string[] {
  return [...new Set(compileTemplate(source).references.map((r) => r.path))];
}

/** Each use of a variable path, with whether it is optional (under `default` or `is defined`) and its line. */
export function templateReferences(source: string): TemplateReference[] {
  return compileTemplate(source).references.map((r) => ({ ...r }));
}
