/**
 * Steps as written, read leniently: the whole-workflow checks (agents, graph, templates) run on every
 * step even when some of its fields are malformed — the schema reports those — so that one bad
 * timeout does not hide an unknown agent in the same step, and every problem is listed at once.
 */
import { camelizeKeys, unbraced } from './schema-kit';
import { normalizeStep, STEP_KINDS, type StepKind } from './steps';
import type { TemplateSite } from './variables';

export interface LooseStep {
  index: number;
  id?: string;
  /** Undefined when the kind is missing or unknown. */
  kind?: StepKind;
  dependsOn: string[];
  /** The step's fields, aliases renamed. */
  fields: Record<string, unknown>;
}

export interface TemplateSource {
  /** Path of the field, relative to the step (`prompt`, `branches[1].prompt`). */
  path: string;
  source: string;
  site: TemplateSite;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
/** A nested object of the definition (aliases renamed), or {} when it is not an object. */
const fieldsOf = (v: unknown): Record<string, unknown> => {
  const c = camelizeKeys(v);
  return isRecord(c) ? c : {};
};
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v : undefined);

/** The steps of a definition as written (an empty list when there is none). */
export function looseSteps(raw: unknown): LooseStep[] {
  return list(fieldsOf(raw).steps).map((s, index) => {
    const normalized = normalizeStep(s);
    const fields = isRecord(normalized) ? normalized : {};
    const kind = STEP_KINDS.find((k) => k === fields.kind);
    return {
      index,
      id: typeof fields.id === 'string' ? fields.id : undefined,
      ...(kind && { kind }),
      dependsOn: list(fields.dependsOn).filter((d): d is string => typeof d === 'string'),
      fields,
    };
  });
}

/** The agents a step names, with their paths relative to the step. */
export function agentsOf({ kind, fields: f }: LooseStep): [string, string][] {
  const named: [string, unknown][] = [];
  if (kind === 'agent') named.push(['agent', f.agent]);
  if (kind === 'parallel') {
    list(f.branches).forEach((b, i) => named.push([`branches[${i}].agent`, fieldsOf(b).agent]));
    named.push(
      ['forEach.agent', fieldsOf(f.forEach).agent],
      ['aggregate.agent', fieldsOf(f.aggregate).agent],
    );
  }
  if (kind === 'groupChat') {
    list(f.participants).forEach((p, i) => named.push([`participants[${i}]`, p]));
    named.push(['selector', f.selector]);
  }
  if (kind === 'review') named.push(['builder', f.builder], ['validator', f.validator]);
  return named.flatMap(([path, name]) =>
    text(name) ? [[path, (name as string).trim()] as [string, string]] : [],
  );
}

/** The templates of a step (its `when` as well), with where they sit. */
export function templatesOf({ kind, fields: f }: LooseStep): TemplateSource[] {
  const found: [string, unknown, TemplateSite][] = [];
  if (typeof f.when === 'string') found.push(['when', unbraced(f.when), 'when']);
  if (kind === 'agent') {
    found.push(['prompt', f.prompt, 'prompt']);
    // Context keys are the author's: not renamed.
    if (isRecord(f.context))
      Object.entries(f.context).forEach(([k, v]) => found.push([`context.${k}`, v, 'context']));
  } else if (kind === 'parallel') {
    list(f.branches).forEach((b, i) => found.push([`branches[${i}].prompt`, fieldsOf(b).prompt, 'branch']));
    found.push(['forEach.prompt', fieldsOf(f.forEach).prompt, 'forEach']);
    found.push(['aggregate.prompt', fieldsOf(f.aggregate).prompt, 'aggregate']);
  } else if (kind) found.push(['prompt', f.prompt, kind]);
  return found.flatMap(([path, source, site]) =>
    text(source) ? [{ path, source: source as string, site }] : [],
  );
}

/** The forEach items path, braces removed, when there is one. */
export function itemsOf({ kind, fields }: LooseStep): string | undefined {
  const items = kind === 'parallel' ? text(fieldsOf(fields.forEach).items) : undefined;
  return items === undefined ? undefined : unbraced(items);
}
