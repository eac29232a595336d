/**
 * Parser for the Jinja-like prompt templates: source → AST. Kept apart from rendering so a template
 * is parsed once (and its syntax errors, with line and column, surface when a definition is saved).
 */
import { lex, scan, syntaxError, type Tok } from './template-lexer';

export type PathExpr = {
  kind: 'path';
  root: string;
  segments: (string | number)[];
  text: string;
  pos: number;
};
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type Expr =
  | PathExpr
  | { kind: 'literal'; value: unknown }
  | { kind: 'filter'; target: Expr; name: string; args: Expr[]; pos: number }
  | { kind: 'not'; operand: Expr }
  | { kind: 'logic'; op: 'and' | 'or'; left: Expr; right: Expr }
  | { kind: 'compare'; op: CompareOp; left: Expr; right: Expr; pos: number }
  | { kind: 'defined'; target: PathExpr; negate: boolean };

export type Node =
  | { kind: 'text'; value: string }
  | { kind: 'output'; expr: Expr }
  | { kind: 'if'; branches: { test: Expr; body: Node[] }[]; otherwise?: Node[] }
  | { kind: 'for'; name: string; iterable: Expr; body: Node[]; otherwise?: Node[]; pos: number };

/** Filters and how many arguments each takes. */
export const FILTER_ARITY: Record<string, [min: number, max: number]> = {
  default: [0, 2],
  d: [0, 2],
  upper: [0, 0],
  lower: [0, 0],
  trim: [0, 0],
  json: [0, 1],
  tojson: [0, 1],
  join: [0, 1],
  length: [0, 0],
};

const LITERALS: Record<string, unknown> = {
  true: true,
  false: false,
  none: null,
  True: true,
  False: false,
  None: null,
};
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'if', 'else', 'elif', 'for']);

/** Recursive-descent parser for one tag's tokens. */
class ExprParser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly toks: Tok[],
  ) {}

  peek(): Tok {
    return this.toks[this.i] ?? this.toks[this.toks.length - 1]!;
  }
  next(): Tok {
    const tok = this.peek();
    if (tok.t !== 'end') this.i++;
    return tok;
  }
  accept(v: string): boolean {
    const tok = this.peek();
    if ((tok.t !== 'op' && tok.t !== 'name') || tok.v !== v) return false;
    this.next();
    return true;
  }
  expect(v: string): void {
    if (!this.accept(v)) this.fail(`expected '${v}'`);
  }
  fail(problem: string): never {
    const tok = this.peek();
    throw syntaxError(this.src, tok.pos, `${problem}, found ${tok.t === 'end' ? tok.v : `'${tok.v}'`}`);
  }
  name(what: string): string {
    const tok = this.peek();
    if (tok.t !== 'name' || KEYWORDS.has(tok.v) || tok.v in LITERALS) this.fail(`expected ${what}`);
    return this.next().v;
  }
  done(): void {
    if (this.peek().t !== 'end') this.fail('expected the end of the tag');
  }

  expr(): Expr {
    let left = this.and();
    while (this.accept('or')) left = { kind: 'logic', op: 'or', left, right: this.and() };
    return left;
  }
  private and(): Expr {
    let left = this.not();
    while (this.accept('and')) left = { kind: 'logic', op: 'and', left, right: this.not() };
    return left;
  }
  private not(): Expr {
    return this.accept('not') ? { kind: 'not', operand: this.not() } : this.compare();
  }
  private compare(): Expr {
    const left = this.filtered();
    const tok = this.peek();
    if (tok.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(tok.v)) {
      this.next();
      return { kind: 'compare', op: tok.v as CompareOp, left, right: this.filtered(), pos: tok.pos };
    }
    if (this.accept('is')) {
      const negate = this.accept('not');
      if (left.kind !== 'path')
        throw syntaxError(this.src, tok.pos, "only a variable can be tested with 'is defined'");
      this.expect('defined');
      return { kind: 'defined', target: left, negate };
    }
    return left;
  }
  private filtered(): Expr {
    let target = this.primary();
    while (this.accept('|')) {
      const pos = this.peek().pos;
      const name = this.name('a filter name');
      const arity = FILTER_ARITY[name];
      if (!arity)
        throw syntaxError(
          this.src,
          pos,
          `unknown filter '${name}' (known: ${Object.keys(FILTER_ARITY).join(', ')})`,
        );
      const args: Expr[] = [];
      if (this.accept('(') && !this.accept(')')) {
        do args.push(this.expr());
        while (this.accept(','));
        this.expect(')');
      }
      if (args.length < arity[0] || args.length > arity[1]) {
        throw syntaxError(
          this.src,
          pos,
          `filter '${name}' takes ${arity[0]}..${arity[1]} arguments, not ${args.length}`,
        );
      }
      target = { kind: 'filter', target, name, args, pos };
    }
    return target;
  }
  private primary(): Expr {
    const tok = this.peek();
    if (tok.t === 'num' || tok.t === 'str' || (tok.t === 'name' && tok.v in LITERALS)) {
      this.next();
      return { kind: 'literal', value: tok.t === 'name' ? LITERALS[tok.v] : tok.value };
    }
    if (this.accept('(')) {
      const inner = this.expr();
      this.expect(')');
      return inner;
    }
    const root = this.name('a variable, a string or a number');
    const segments: (string | number)[] = [];
    for (;;) {
      if (this.accept('.')) {
        const seg = this.peek();
        if (seg.t === 'num' && /^\d+$/.test(seg.v)) segments.push(Number(this.next().v));
        else if (seg.t === 'name') segments.push(this.next().v);
        else this.fail('expected an attribute name after "."');
      } else if (this.accept('[')) {
        const key = this.next();
        if (key.t !== 'str' && key.t !== 'num')
          throw syntaxError(this.src, key.pos, 'expected a string or number in [ ]');
        segments.push(key.value as string | number);
        this.expect(']');
      } else break;
    }
    const text = [root, ...segments].join('.');
    return { kind: 'path', root, segments, text, pos: tok.pos };
  }
}

const STATEMENTS = new Set(['if', 'elif', 'else', 'endif', 'for', 'endfor']);

interface Frame {
  kind: 'root' | 'if' | 'for';
  node?: Extract<Node, { kind: 'if' | 'for' }>;
  body: Node[];
  sawElse: boolean;
  pos: number;
}

/** Parses a whole template into its node list. */
export function parseTemplate(src: string): Node[] {
  const root: Frame = { kind: 'root', body: [], sawElse: false, pos: 0 };
  const stack: Frame[] = [root];
  for (const tag of scan(src)) {
    const top = stack[stack.length - 1]!;
    if (tag.type === 'text') {
      if (tag.body) top.body.push({ kind: 'text', value: tag.body });
      continue;
    }
    const first = /^\s*([A-Za-z_]\w*)?/.exec(tag.body)!;
    if (tag.type === 'stmt' && !STATEMENTS.has(first[1] ?? '')) {
      const what = first[1] ? `unknown tag '${first[1]}'` : 'expected a tag name';
      throw syntaxError(
        src,
        tag.pos + first[0].length - (first[1]?.length ?? 0),
        `${what} (known: ${[...STATEMENTS].join(', ')})`,
      );
    }
    const p = new ExprParser(src, lex(src, tag.body, tag.pos));
    if (tag.type === 'output') {
      const expr = p.expr();
      p.done();
      top.body.push({ kind: 'output', expr });
      continue;
    }
    const kw = p.peek();
    const word = kw.t === 'name' ? p.next().v : '';
    const misplaced = () => syntaxError(src, kw.pos, `'{% ${word} %}' without a matching opening tag`);
    if (word === 'if') {
      const node: Extract<Node, { kind: 'if' }> = { kind: 'if', branches: [{ test: p.expr(), body: [] }] };
      top.body.push(node);
      stack.push({ kind: 'if', node, body: node.branches[0]!.body, sawElse: false, pos: kw.pos });
    } else if (word === 'for') {
      const name = p.name('a loop variable');
      p.expect('in');
      const node: Extract<Node, { kind: 'for' }> = {
        kind: 'for',
        name,
        iterable: p.expr(),
        body: [],
        pos: kw.pos,
      };
      top.body.push(node);
      stack.push({ kind: 'for', node, body: node.body, sawElse: false, pos: kw.pos });
    } else if (word === 'elif') {
      if (top.kind !== 'if' || top.node?.kind !== 'if' || top.sawElse) throw misplaced();
      top.body = [];
      top.node.branches.push({ test: p.expr(), body: top.body });
    } else if (word === 'else') {
      if ((top.kind !== 'if' && top.kind !== 'for') || !top.node || top.sawElse) throw misplaced();
      top.body = top.node.otherwise = [];
      top.sawElse = true;
    } else if (word === 'endif' || word === 'endfor') {
      if (top.kind !== word.slice(3)) throw misplaced();
      stack.pop();
    }
    p.done();
  }
  const open = stack[stack.length - 1]!;
  if (open.kind !== 'root')
    throw syntaxError(src, open.pos, `'{% ${open.kind} %}' is never closed with '{% end${open.kind} %}'`);
  return root.body;
}
