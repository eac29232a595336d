/**
 * The full check of a workflow definition, run when it is saved or a run starts: the shape of every
 * field (definition.ts), then what needs the whole workflow — agents exist, step ids are unique,
 * `dependsOn` names steps and has no cycle, templates read only what will exist, and every step can
 * actually run. Every problem is reported at once, each with its path (`steps[2].agent`), so an
 * author fixes a definition in one round instead of one error at a time.
 */
import { builtInAgents, findBuiltIn } from '../agents/catalog';
import type { Violation } from '../errors';
import { checkStructure, loadWorkflowText, type WorkflowDefinition } from './definition';
import { invalidDefinition } from './errors';
import { ancestorsOf, findCycles, type GraphNode } from './graph';
import { agentsOf, itemsOf, looseSteps, templatesOf, type LooseStep } from './loose';
import { checkItems, checkTemplate, type ReferenceScope } from './references';
import { byStep, camelizeKeys } from './schema-kit';
import type { StepKind } from './steps';
import { didYouMean } from './suggest';

export { executionPlan, type ExecutionPlan } from './graph';

export interface ValidateOptions {
  /** Whether an agent exists (built-in or registered). Default: the built-in agents. */
  knownAgent?: (name: string) => boolean;
  /** The agents named in "unknown agent" messages. Default: the built-in agents. */
  agentNames?: readonly string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Violations without repeats, top-level ones first, then by step. */
class Problems {
  private readonly list: Violation[] = [];
  private readonly keys = new Set<string>();
  readonly add = (path: string, message: string): void => {
    const key = `${path}\u0000${message}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.list.push({ path, message });
  };
  inStep(index: number): boolean {
    return this.list.some(
      (v) =>
        v.path === `steps[${index}]` ||
        v.path.startsWith(`steps[${index}].`) ||
        v.path.startsWith(`steps[${index}][`),
    );
  }
  sorted(): Violation[] {
    return byStep(this.list);
  }
}

/**
 * The input properties templates may read: those the input schema declares, unless it lets in
 * others (`additionalProperties` set to anything but false, or `patternProperties`). Reading an
 * undeclared property is nearly always a typo; an author who means it declares the property.
 */
function inputProperties(raw: unknown): Set<string> | undefined {
  const top = camelizeKeys(raw);
  const schema = isRecord(top) ? top.input : undefined;
  if (!isRecord(schema) || !isRecord(schema.properties) || schema.patternProperties !== undefined)
    return undefined;
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) return undefined;
  return new Set(Object.keys(schema.properties));
}

/** Duplicate ids, unknown dependencies and cycles; returns the ids of the steps in a cycle. */
function checkGraph(infos: LooseStep[], nodes: GraphNode[], report: Problems['add']): Set<string> {
  const first = new Map<string, number>();
  for (const info of infos) {
    if (info.id === undefined) continue;
    const earlier = first.get(info.id);
    if (earlier !== undefined)
      report(`steps[${info.index}].id`, `duplicate step id '${info.id}' (already used by steps[${earlier}])`);
    else first.set(info.id, info.index);
  }
  const ids = [...first.keys()];
  for (const info of infos) {
    info.dependsOn.forEach((dep, j) => {
      if (first.has(dep)) return;
      report(
        `steps[${info.index}].dependsOn[${j}]`,
        `names '${dep}', which is not a step of this workflow (steps: ${ids.join(', ')})${didYouMean(dep, ids)}`,
      );
    });
  }
  const inCycle = new Set<string>();
  for (const cycle of findCycles(nodes)) {
    cycle.forEach((id) => inCycle.add(id));
    report(
      `steps[${first.get(cycle[0]!)!}].dependsOn`,
      `dependsOn forms a cycle: ${cycle.join(' → ')} (each step depends on the next), so none of them can start`,
    );
  }
  return inCycle;
}

/** Steps that can never run because something they depend on never completes. */
function checkReachable(
  infos: LooseStep[],
  nodes: GraphNode[],
  blocked: Map<string, string>,
  report: Problems['add'],
): void {
  const byId = new Map<string, GraphNode>();
  for (const n of nodes) if (!byId.has(n.id)) byId.set(n.id, n);
  const chainTo = (id: string, seen: Set<string>): string[] | undefined => {
    for (const dep of byId.get(id)?.dependsOn ?? []) {
      if (seen.has(dep) || !byId.has(dep)) continue;
      seen.add(dep);
      if (blocked.has(dep)) return [dep];
      const rest = chainTo(dep, seen);
      if (rest) return [dep, ...rest];
    }
    return undefined;
  };
  for (const info of infos) {
    if (info.id === undefined || blocked.has(info.id)) continue;
    const chain = chainTo(info.id, new Set([info.id]));
    if (!chain) continue;
    const root = chain[chain.length - 1]!;
    const through = chain.map((id) => `'${id}'`).join(', which depends on ');
    report(
      `steps[${info.index}].dependsOn`,
      `step '${info.id}' can never run: it depends on ${through}, which ${blocked.get(root)}`,
    );
  }
}

/**
 * Validates a definition (an object, or JSON/YAML text) and returns it normalized (aliases renamed,
 * defaults filled in). Throws ValidationError (WORKFLOW.INVALID_DEFINITION) listing every problem.
 */
/** Whether the raw step at `index` asks to run on the long-task queue. */
function longFlag(raw: unknown, index: number): boolean {
  const steps = (raw as { steps?: unknown } | null)?.steps;
  const step = Array.isArray(steps) ? (steps[index] as { long?: unknown } | null) : undefined;
  return step?.long === true;
}

export function validateWorkflow(source: unknown, options: ValidateOptions = {}): WorkflowDefinition {
  const raw = typeof source === 'string' ? loadWorkflowText(source) : source;
  const knownAgent = options.knownAgent ?? ((name: string) => findBuiltIn(name) !== undefined);
  const agentNames = options.agentNames ?? builtInAgents().map((a) => a.id);
  const problems = new Problems();
  const report = problems.add;
  const { data, violations } = checkStructure(raw);
  violations.forEach((v) => report(v.path, v.message));

  const infos = looseSteps(raw);
  const nodes = infos.flatMap((i) => (i.id === undefined ? [] : [{ id: i.id, dependsOn: i.dependsOn }]));
  const inCycle = checkGraph(infos, nodes, report);
  const kinds = new Map<string, StepKind | undefined>();
  for (const i of infos) if (i.id !== undefined && !kinds.has(i.id)) kinds.set(i.id, i.kind);
  const properties = inputProperties(raw);
  const neverRuns = new Set<string>();

  for (const step of infos) {
    const at = (path: string): string => `steps[${step.index}].${path}`;
    for (const [path, name] of agentsOf(step)) {
      if (knownAgent(name)) continue;
      const known = options.agentNames ? 'known agents' : 'built-in agents';
      report(
        at(path),
        `unknown agent '${name}' (${known}: ${agentNames.join(', ')})${didYouMean(name, agentNames)}`,
      );
    }
    if ((step.kind === 'groupChat' || step.kind === 'approval') && longFlag(raw, step.index)) {
      report(at('long'), `long applies to agent, parallel and review steps, not to a ${step.kind} step`);
    }
    if (step.id === undefined) continue;
    const scope: ReferenceScope = {
      stepId: step.id,
      steps: kinds,
      ancestors: ancestorsOf(nodes, step.id),
      ...(properties && { inputProperties: properties }),
    };
    for (const t of templatesOf(step)) {
      if (checkTemplate(t, scope, at(t.path), report) === 'never') neverRuns.add(step.id);
    }
    const items = itemsOf(step);
    if (items !== undefined) checkItems(items, scope, at('forEach.items'), report);
  }

  const blocked = new Map<string, string>();
  for (const info of infos) {
    if (info.id === undefined || blocked.has(info.id)) continue;
    if (inCycle.has(info.id)) blocked.set(info.id, 'is part of a dependency cycle');
    else if (neverRuns.has(info.id)) blocked.set(info.id, 'never runs (its when condition is always false)');
    else if (problems.inStep(info.index)) blocked.set(info.id, `is not valid (see steps[${info.index}])`);
  }
  checkReachable(infos, nodes, blocked, report);

  const all = problems.sorted();
  if (!data || all.length) throw invalidDefinition(all);
  return data;
}
