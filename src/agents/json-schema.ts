/**
 * Output schemas are JSON Schema (what model APIs take); validation is zod (what the codebase uses).
 * zod 4's `z.fromJSONSchema` bridges the two; OpenAPI's `nullable` is rewritten first because the
 * converter only honours it for OpenAPI targets.
 */
import { z } from 'zod';

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

const SUBSCHEMA_MAPS = ['properties', '$defs', 'definitions', 'patternProperties'];
const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SUBSCHEMA_ONE = ['items', 'additionalProperties', 'not', 'contains'];

/** `{type: 'string', nullable: true}` → `{anyOf: [{type: 'string'}, {type: 'null'}]}`, recursively. */
function rewriteNullable(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rewriteNullable);
  if (!isObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (SUBSCHEMA_MAPS.includes(key) && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewriteNullable(v)]));
    } else if (SUBSCHEMA_LISTS.includes(key) || SUBSCHEMA_ONE.includes(key))
      out[key] = rewriteNullable(value);
    else if (key !== 'nullable') out[key] = value;
  }
  if (schema.nullable !== true) return out;
  const { description, ...rest } = out;
  return { anyOf: [rest, { type: 'null' }], ...(description === undefined ? {} : { description }) };
}

const converted = new WeakMap<object, z.ZodType>();

/** A zod validator for a JSON Schema; throws (with the converter's reason) when it is unusable. */
export function jsonSchemaToZod(schema: JsonObject): z.ZodType {
  const hit = converted.get(schema);
  if (hit) return hit;
  const validator = z.fromJSONSchema(rewriteNullable(schema) as Parameters<typeof z.fromJSONSchema>[0]);
  converted.set(schema, validator);
  return validator;
}

/** Problems that make a JSON Schema unusable as an agent's output schema, or [] when usable. */
export function outputSchemaProblems(schema: unknown): string[] {
  if (!isObject(schema)) return ['must be a JSON Schema object'];
  if (schema.type !== 'object') return ['must describe a JSON object (type: "object" at the root)'];
  if (schema.properties !== undefined && !isObject(schema.properties))
    return ['"properties" must be an object'];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    if (!isObject(sub) && typeof sub !== 'boolean') return [`properties.${name} must be a schema object`];
  }
  try {
    jsonSchemaToZod(schema);
    return [];
  } catch (err) {
    return [`is not a usable JSON Schema: ${(err as Error).message}`];
  }
}

/**
 * Whether OpenAI's strict structured outputs accept the schema: every object lists all its
 * properties as required and forbids additional ones. Strict is only requested when it holds.
 */
export function isStrictCompatible(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.every(isStrictCompatible);
  if (!isObject(schema)) return true;
  if (schema.type === 'object' || isObject(schema.properties)) {
    const props = isObject(schema.properties) ? Object.keys(schema.properties) : [];
    const required = Array.isArray(schema.required) ? (schema.required as unknown[]) : [];
    if (schema.additionalProperties !== false || !props.every((p) => required.includes(p))) return false;
  }
  return Object.entries(schema).every(
    ([key, value]) =>
      !(SUBSCHEMA_MAPS.includes(key) || SUBSCHEMA_LISTS.includes(key) || SUBSCHEMA_ONE.includes(key)) ||
      (SUBSCHEMA_MAPS.includes(key) && isObject(value)
        ? Object.values(value).every(isStrictCompatible)
        : isStrictCompatible(value)),
  );
}

/** Validation problems as `path: message` strings, or the parsed value. */
export function validateAgainst(
  schema: JsonObject,
  value: unknown,
): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  const result = jsonSchemaToZod(schema).safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
  };
}
