/**
 * Bicep without a compiler: tree-sitter-bicep (its WebAssembly build, through web-tree-sitter) parses the
 * files, a real syntax check, and these helpers read what the lint tests need from the syntax tree:
 * top-level declarations with their decorators, resource and module bodies, object properties, and the
 * value of simple expressions (literals, variables, parameters given in `env`, arithmetic, comparisons,
 * ternaries). Anything else evaluates to `Unresolved`, carrying its source text, so a test sees an
 * expression instead of guessing its value.
 *
 * The parser loads asynchronously: call `initBicep()` in a `beforeAll` before parsing. (The native
 * tree-sitter binding is not used: it patches its classes when it loads, and jest loads modules once per
 * test file in one process, which breaks every copy after the first.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Language, Parser, type Node as SyntaxNode } from 'web-tree-sitter';

export type Node = SyntaxNode;

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const BICEP_DIR = path.join(REPO_ROOT, 'bicep');

export interface BicepFile {
  /** Path relative to bicep/ (`<snippet>` for parsed text). */
  name: string;
  source: string;
  root: Node;
}

let parser: Parser | undefined;

/** Loads the parser (once per test file): WebAssembly compiles asynchronously. */
export async function initBicep(): Promise<void> {
  if (parser) return;
  await Parser.init();
  // Bytes, not a path: with a path, web-tree-sitter imports fs dynamically, which jest's CommonJS refuses.
  const wasm = fs.readFileSync(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
  const bicep = await Language.load(new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength));
  parser = new Parser();
  parser.setLanguage(bicep);
}

export function parseBicep(source: string, name = '<snippet>'): BicepFile {
  if (!parser) throw new Error('call initBicep() (in a beforeAll) before parsing bicep');
  const tree = parser.parse(source);
  if (!tree) throw new Error(`${name}: the parser gave no tree`);
  return { name, source, root: tree.rootNode };
}

/** The children of a node (`named`: without punctuation and keywords). */
export const childrenOf = (n: Node, named = true): Node[] =>
  (named ? n.namedChildren : n.children).filter((c): c is Node => c !== null);

const loaded = new Map<string, BicepFile>();

/** A file under bicep/, parsed once per test file. */
export function loadBicep(name: string): BicepFile {
  let file = loaded.get(name);
  if (!file) {
    file = parseBicep(fs.readFileSync(path.join(BICEP_DIR, name), 'utf8'), name);
    loaded.set(name, file);
  }
  return file;
}

/** Every .bicep file under bicep/, relative to it, sorted. */
export function bicepFiles(dir = BICEP_DIR): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.bicep'))
    .map((f) => f.split(path.sep).join('/'))
    .sort();
}

const where = (n: Node) => `${n.startPosition.row + 1}:${n.startPosition.column + 1}`;

/**
 * Syntax errors: ERROR and MISSING nodes, and two top-level declarations on one line (which the
 * grammar accepts but the compiler does not). Empty when the file is well formed.
 */
export function syntaxProblems(file: BicepFile): string[] {
  const problems: string[] = [];
  const walk = (n: Node) => {
    if (n.isMissing) problems.push(`${file.name}:${where(n)}: missing ${n.type}`);
    else if (n.type === 'ERROR')
      problems.push(`${file.name}:${where(n)}: unexpected '${n.text.slice(0, 40)}'`);
    else childrenOf(n, false).forEach(walk);
  };
  walk(file.root);
  let lastRow = -1;
  for (const n of childrenOf(file.root)) {
    if (n.type === 'comment' || n.type === 'diagnostic_comment') continue;
    const afterDecorators = n.previousNamedSibling?.type === 'decorators';
    if (!afterDecorators && n.startPosition.row <= lastRow) {
      problems.push(`${file.name}:${where(n)}: a declaration must start on a new line`);
    }
    lastRow = n.endPosition.row;
  }
  return problems;
}

export type Kind = 'param' | 'var' | 'resource' | 'module' | 'output' | 'type' | 'func';

export interface Declaration {
  kind: Kind;
  name: string;
  node: Node;
  /** Decorator names (`description`, `secure`, `export`, `batchSize`, ...), `sys.` prefix dropped. */
  decorators: string[];
  /** param: its default; var and output: its value. */
  value?: Node;
  /** resource: `Microsoft.X/y` (no api version); module: its path; output/param: the type's text. */
  ref?: string;
  existing?: boolean;
  /** resource and module: the body object (inside `if` / `for`). */
  body?: Node;
  condition?: Node;
  loop?: boolean;
}

const KINDS: Record<string, Kind> = {
  parameter_declaration: 'param',
  variable_declaration: 'var',
  resource_declaration: 'resource',
  module_declaration: 'module',
  output_declaration: 'output',
  type_declaration: 'type',
  user_defined_function: 'func',
};

const afterEquals = (n: Node): Node | undefined => {
  const children = childrenOf(n, false);
  const i = children.findIndex((c) => c.type === '=');
  return i >= 0 ? children[i + 1] : undefined;
};

function unwrapBody(n: Node | undefined): Pick<Declaration, 'body' | 'condition' | 'loop'> {
  if (!n) return {};
  if (n.type === 'object') return { body: n };
  if (n.type === 'if_statement') {
    return { body: childrenOf(n).find((c) => c.type === 'object'), condition: childrenOf(n)[0] };
  }
  if (n.type === 'for_statement')
    return { ...unwrapBody(n.childForFieldName('body') ?? undefined), loop: true };
  return {};
}

const cachedDeclarations = new WeakMap<BicepFile, Declaration[]>();

export function declarations(file: BicepFile): Declaration[] {
  const cached = cachedDeclarations.get(file);
  if (cached) return cached;
  const out: Declaration[] = [];
  for (const n of childrenOf(file.root)) {
    const kind = KINDS[n.type];
    if (!kind) continue;
    const decoratorsNode = n.previousNamedSibling?.type === 'decorators' ? n.previousNamedSibling : undefined;
    const decorators = (decoratorsNode ? childrenOf(decoratorsNode) : []).map((d) =>
      (childrenOf(d)[0]?.childForFieldName('function')?.text ?? d.text.slice(1)).replace(/^sys\./, ''),
    );
    const name = childrenOf(n).find((c) => c.type === 'identifier')?.text ?? '';
    const d: Declaration = { kind, name, node: n, decorators };
    if (kind === 'param' || kind === 'var' || kind === 'output') {
      d.value = afterEquals(n);
      d.ref = childrenOf(n).find((c) => c.type === 'type')?.text;
    }
    if (kind === 'resource' || kind === 'module') {
      const refNode = childrenOf(n).find((c) => c.type === 'string');
      d.ref = refNode ? stringOf(refNode).split('@')[0] : undefined;
      d.existing = childrenOf(n, false).some((c) => c.type === 'existing');
      Object.assign(d, unwrapBody(afterEquals(n)));
    }
    out.push(d);
  }
  cachedDeclarations.set(file, out);
  return out;
}

export const byKind = (file: BicepFile, kind: Kind) => declarations(file).filter((d) => d.kind === kind);

export function declaration(file: BicepFile, kind: Kind, name: string): Declaration {
  const d = declarations(file).find((x) => x.kind === kind && x.name === name);
  if (!d) throw new Error(`${file.name}: no ${kind} '${name}'`);
  return d;
}

/** The properties of an object literal, by key. */
export function properties(obj: Node | undefined): Map<string, Node> {
  const map = new Map<string, Node>();
  for (const p of obj?.type === 'object' ? childrenOf(obj) : []) {
    if (p.type !== 'object_property') continue;
    const parts = childrenOf(p);
    const [key, value] = [parts[0], parts[parts.length - 1]];
    if (key && value && parts.length > 1) map.set(key.type === 'string' ? stringOf(key) : key.text, value);
  }
  return map;
}

/** A (nested) property of an object literal: `prop(body, 'properties.disableLocalAuth')`. */
export function prop(obj: Node | undefined, dotted: string): Node | undefined {
  let node = obj;
  for (const key of dotted.split('.')) node = properties(node).get(key);
  return node;
}

/** An expression the helpers do not evaluate (a function call, a resource property, an unknown name). */
export class Unresolved {
  constructor(readonly text: string) {}
}

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Unresolved;

export interface Scope {
  /** Where variables are looked up. */
  file?: BicepFile;
  /** Values of parameters (and anything else by name). */
  env?: Record<string, Value>;
}

const ESCAPES: Record<string, string> = {
  "\\'": "'",
  '\\\\': '\\',
  '\\n': '\n',
  '\\r': '\r',
  '\\t': '\t',
  '\\$': '$',
};

function stringValue(n: Node, scope: Scope): Value {
  if (n.text.startsWith("'''")) return n.text.slice(3, -3).replace(/^\r?\n/, '');
  let out = '';
  for (const part of childrenOf(n)) {
    if (part.type === 'string_content') out += part.text;
    else if (part.type === 'escape_sequence') {
      out += part.text.startsWith('\\u{')
        ? String.fromCodePoint(parseInt(part.text.slice(3, -1), 16))
        : (ESCAPES[part.text] ?? part.text);
    } else {
      const v = evaluate(childrenOf(part)[0] ?? part, scope);
      if (v instanceof Unresolved || (typeof v === 'object' && v !== null)) return new Unresolved(n.text);
      out += String(v);
    }
  }
  return out;
}

const BINARY: Record<string, (a: never, b: never) => Value> = {
  '+': (a: number, b: number) => a + b,
  '-': (a: number, b: number) => a - b,
  '*': (a: number, b: number) => a * b,
  '/': (a: number, b: number) => Math.trunc(a / b),
  '%': (a: number, b: number) => a % b,
  '>': (a: number, b: number) => a > b,
  '<': (a: number, b: number) => a < b,
  '>=': (a: number, b: number) => a >= b,
  '<=': (a: number, b: number) => a <= b,
  '==': (a: Value, b: Value) => JSON.stringify(a) === JSON.stringify(b),
  '!=': (a: Value, b: Value) => JSON.stringify(a) !== JSON.stringify(b),
  '&&': (a: boolean, b: boolean) => a && b,
  '||': (a: boolean, b: boolean) => a || b,
  '??': (a: Value, b: Value) => a ?? b,
};

const hasUnresolved = (v: Value): boolean =>
  v instanceof Unresolved ||
  (Array.isArray(v)
    ? v.some(hasUnresolved)
    : typeof v === 'object' && v !== null && Object.values(v).some(hasUnresolved));

/** The value of an expression, as far as literals, `env` and the file's variables determine it. */
export function evaluate(n: Node, scope: Scope = {}): Value {
  const unresolved = new Unresolved(n.text);
  switch (n.type) {
    case 'string':
      return stringValue(n, scope);
    case 'number':
      return Number(n.text);
    case 'boolean':
      return n.text === 'true';
    case 'null':
      return null;
    case 'array':
      return childrenOf(n)
        .filter((c) => c.type !== 'comment')
        .map((c) => evaluate(c, scope));
    case 'object':
      return Object.fromEntries([...properties(n)].map(([k, v]) => [k, evaluate(v, scope)]));
    case 'parenthesized_expression':
      return childrenOf(n)[0] ? evaluate(childrenOf(n)[0]!, scope) : unresolved;
    case 'identifier': {
      if (scope.env && n.text in scope.env) return scope.env[n.text]!;
      const v = scope.file && declarations(scope.file).find((d) => d.kind === 'var' && d.name === n.text);
      return v?.value ? evaluate(v.value, scope) : unresolved;
    }
    case 'unary_expression': {
      const arg = evaluate(childrenOf(n)[0]!, scope);
      if (hasUnresolved(arg)) return unresolved;
      return childrenOf(n, false)[0]?.type === '!' ? !arg : -(arg as number);
    }
    case 'binary_expression': {
      const op = BINARY[n.child(1)?.type ?? ''];
      const [a, b] = [
        evaluate(n.childForFieldName('left')!, scope),
        evaluate(n.childForFieldName('right')!, scope),
      ];
      return op && !hasUnresolved(a) && !hasUnresolved(b) ? op(a as never, b as never) : unresolved;
    }
    case 'ternary_expression': {
      const cond = evaluate(n.childForFieldName('condition')!, scope);
      if (typeof cond !== 'boolean') return unresolved;
      return evaluate(n.childForFieldName(cond ? 'consequence' : 'alternative')!, scope);
    }
    case 'member_expression': {
      const obj = evaluate(n.childForFieldName('object')!, scope);
      const key = n.childForFieldName('property')?.text ?? '';
      const isRecord =
        typeof obj === 'object' && obj !== null && !Array.isArray(obj) && !(obj instanceof Unresolved);
      return isRecord && key in obj ? obj[key]! : unresolved;
    }
    default:
      return unresolved;
  }
}

/** The value of an expression that must be a string (a literal, or one `scope` determines). */
export function stringOf(n: Node, scope: Scope = {}): string {
  const v = evaluate(n, scope);
  if (typeof v !== 'string') throw new Error(`${where(n)}: '${n.text.slice(0, 60)}' is not a known string`);
  return v;
}

/**
 * The keys of the object an expression builds: object literals, variables holding them, `union(...)`
 * of them and both branches of a ternary. Throws on anything else, so a new shape fails loudly.
 */
export function objectKeys(n: Node, file: BicepFile): string[] {
  switch (n.type) {
    case 'object':
      return [...properties(n).keys()];
    case 'parenthesized_expression':
      return objectKeys(childrenOf(n)[0]!, file);
    case 'identifier':
      return objectKeys(declaration(file, 'var', n.text).value!, file);
    case 'ternary_expression':
      return [
        ...objectKeys(n.childForFieldName('consequence')!, file),
        ...objectKeys(n.childForFieldName('alternative')!, file),
      ];
    case 'call_expression':
      if (n.childForFieldName('function')?.text === 'union') {
        const args = n.childForFieldName('arguments');
        return (args ? childrenOf(args) : []).flatMap((a) => objectKeys(a, file));
      }
  }
  throw new Error(`${file.name}:${where(n)}: cannot list the keys of '${n.text.slice(0, 60)}'`);
}

/** Every node of a subtree (depth first). */
export function descendants(n: Node): Node[] {
  return [n, ...childrenOf(n).flatMap(descendants)];
}

/** The names of the functions an expression calls (`listKeys`, `az.listKeys` → `listKeys`). */
export function calledFunctions(n: Node): string[] {
  return descendants(n)
    .filter((d) => d.type === 'call_expression')
    .map((d) => {
      const fn = d.childForFieldName('function');
      return (fn?.type === 'member_expression' ? fn.childForFieldName('property') : fn)?.text ?? '';
    });
}

/** The identifiers an expression mentions (variables, parameters, resources, modules). */
export function identifiers(n: Node): string[] {
  return descendants(n)
    .filter((d) => d.type === 'identifier')
    .map((d) => d.text);
}
