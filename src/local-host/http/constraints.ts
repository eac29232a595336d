/**
 * Inline route constraints (`{id:int}`, `{name:length(2,8)}`...), with the semantics of ASP.NET Core's
 * built-in constraints, which is what the Functions host uses to match HTTP trigger routes.
 */

export interface RouteConstraint {
  /** As written in the template, e.g. `range(1,10)`, for messages. */
  readonly text: string;
  test(value: string): boolean;
}

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
const GUID_HEX = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const GUID = new RegExp(`^(?:${GUID_HEX}|[0-9a-f]{32}|\\{${GUID_HEX}\\}|\\(${GUID_HEX}\\))$`, 'i');
/** Date forms .NET's invariant DateTime.TryParse accepts and that people put in URLs. */
const DATETIME =
  /^(?:\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}\/\d{1,2}\/\d{4}(?: \d{1,2}:\d{2}(?::\d{2})?)?)$/i;

/** A real calendar date (no 2024-02-30) in one of the DATETIME forms. */
function isDateTime(value: string): boolean {
  if (!DATETIME.test(value)) return false;
  const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})/.exec(value);
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})/.exec(value);
  const [y, m, d] = iso ? [iso[1], iso[2], iso[3]] : [us?.[3], us?.[1], us?.[2]];
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  return date.getUTCMonth() === Number(m) - 1 && date.getUTCDate() === Number(d);
}

function inIntRange(value: string, bits: 32 | 64): boolean {
  if (!INT.test(value)) return false;
  const n = BigInt(value);
  const max = (1n << BigInt(bits - 1)) - 1n;
  return n >= -max - 1n && n <= max;
}

function intArg(name: string, args: string[], i: number): bigint {
  const raw = args[i]?.trim() ?? '';
  if (!INT.test(raw))
    throw new Error(`Route constraint '${name}' expects integer arguments, got '${args.join(',')}'.`);
  return BigInt(raw);
}

function arity(name: string, args: string[], ...allowed: number[]): void {
  if (!allowed.includes(args.length)) {
    throw new Error(
      `Route constraint '${name}' takes ${allowed.join(' or ')} argument(s), got ${args.length}.`,
    );
  }
}

type Factory = (name: string, args: string[], rawArgs: string) => (value: string) => boolean;

const noArgs =
  (test: (value: string) => boolean): Factory =>
  (name, args) => {
    arity(name, args, 0);
    return test;
  };

const FACTORIES: Record<string, Factory> = {
  int: noArgs((v) => inIntRange(v, 32)),
  long: noArgs((v) => inIntRange(v, 64)),
  bool: noArgs((v) => /^(?:true|false)$/i.test(v)),
  guid: noArgs((v) => GUID.test(v)),
  alpha: noArgs((v) => /^[a-z]*$/i.test(v)),
  double: noArgs((v) => FLOAT.test(v)),
  float: noArgs((v) => FLOAT.test(v)),
  decimal: noArgs((v) => DECIMAL.test(v)),
  datetime: noArgs(isDateTime),
  required: noArgs((v) => v !== ''),
  minlength: (name, args) => {
    arity(name, args, 1);
    const min = intArg(name, args, 0);
    return (v) => BigInt(v.length) >= min;
  },
  maxlength: (name, args) => {
    arity(name, args, 1);
    const max = intArg(name, args, 0);
    return (v) => BigInt(v.length) <= max;
  },
  length: (name, args) => {
    arity(name, args, 1, 2);
    const min = intArg(name, args, 0);
    const max = args.length === 2 ? intArg(name, args, 1) : min;
    return (v) => BigInt(v.length) >= min && BigInt(v.length) <= max;
  },
  min: (name, args) => {
    arity(name, args, 1);
    const min = intArg(name, args, 0);
    return (v) => inIntRange(v, 64) && BigInt(v) >= min;
  },
  max: (name, args) => {
    arity(name, args, 1);
    const max = intArg(name, args, 0);
    return (v) => inIntRange(v, 64) && BigInt(v) <= max;
  },
  range: (name, args) => {
    arity(name, args, 2);
    const [min, max] = [intArg(name, args, 0), intArg(name, args, 1)];
    return (v) => inIntRange(v, 64) && BigInt(v) >= min && BigInt(v) <= max;
  },
  // Like ASP.NET: case-insensitive and not implicitly anchored (write ^...$ to match the whole value).
  regex: (_name, _args, rawArgs) => {
    const re = new RegExp(rawArgs, 'i');
    return (v) => re.test(v);
  },
};

/** `text` is one constraint as written after a `:` — `int`, `min(1)`, `regex(^a.*$)`. */
export function parseConstraint(text: string): RouteConstraint {
  const open = text.indexOf('(');
  const name = (open < 0 ? text : text.slice(0, open)).trim().toLowerCase();
  let rawArgs = '';
  if (open >= 0) {
    if (!text.endsWith(')')) throw new Error(`Route constraint '${text}' has no closing ')'.`);
    rawArgs = text.slice(open + 1, -1);
  }
  const factory = FACTORIES[name];
  if (!factory) throw new Error(`Unknown route constraint '${name}' (in '${text}').`);
  const args = open < 0 ? [] : rawArgs.split(',');
  return { text, test: factory(name, args, rawArgs) };
}
