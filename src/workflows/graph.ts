/**
 * The dependency graph of a workflow (`dependsOn` edges): cycles named in order, the ancestors of a
 * step (whose results it may read), and the execution plan the orchestrator follows. Pure functions
 * over ids, so the orchestrator can call them during replay.
 */
import { invalidDefinition } from './errors';

export interface GraphNode {
  id: string;
  dependsOn: readonly string[];
}

/**
 * The cycles in `dependsOn`, each as the ids in dependency order, closed and starting at the
 * earliest-defined step: `['a', 'b', 'c', 'a']` means a depends on b, b on c and c on a.
 */
export function findCycles(nodes: readonly GraphNode[]): string[][] {
  const order = new Map<string, number>();
  nodes.forEach((n, i) => {
    if (!order.has(n.id)) order.set(n.id, i);
  });
  const deps = (id: string): readonly string[] =>
    nodes[order.get(id)!]!.dependsOn.filter((d) => order.has(d));
  const done = new Set<string>();
  const stack: string[] = [];
  const cycles = new Map<string, string[]>();
  const visit = (id: string): void => {
    stack.push(id);
    for (const dep of deps(id)) {
      const at = stack.indexOf(dep);
      if (at >= 0) {
        const ring = stack.slice(at);
        const first = ring.reduce((best, x, i) => (order.get(x)! < order.get(ring[best]!)! ? i : best), 0);
        const cycle = [...ring.slice(first), ...ring.slice(0, first)];
        cycles.set(cycle.join('\u0000'), [...cycle, cycle[0]!]);
      } else if (!done.has(dep)) visit(dep);
    }
    stack.pop();
    done.add(id);
  };
  for (const id of order.keys()) if (!done.has(id)) visit(id);
  return [...cycles.values()];
}

/** All the steps a step depends on, directly or not (cycles tolerated; unknown ids ignored). */
export function ancestorsOf(nodes: readonly GraphNode[], id: string): Set<string> {
  const byId = new Map<string, GraphNode>();
  for (const n of nodes) if (!byId.has(n.id)) byId.set(n.id, n);
  const seen = new Set<string>();
  const pending = [...(byId.get(id)?.dependsOn ?? [])];
  for (let dep = pending.pop(); dep !== undefined; dep = pending.pop()) {
    if (seen.has(dep) || !byId.has(dep)) continue;
    seen.add(dep);
    pending.push(...byId.get(dep)!.dependsOn);
  }
  return seen;
}

export interface ExecutionPlan {
  /** Every step after its dependencies; definition order among steps of the same level. */
  order: string[];
  /**
   * `levels[n]`: the steps whose longest chain of dependencies is n steps long. The steps of a level
   * do not depend on each other, so they can run side by side once the earlier levels are done.
   */
  levels: string[][];
  /** The steps that depend directly on each step (what may start when it completes). */
  dependents: Record<string, string[]>;
}

/**
 * The order and the parallel levels of a valid definition. Throws WORKFLOW.INVALID_DEFINITION on an
 * unknown dependency or a cycle (validateWorkflow reports those with every other problem).
 */
export function executionPlan(def: { steps: readonly GraphNode[] }): ExecutionPlan {
  const ids = new Set(def.steps.map((s) => s.id));
  const problems = def.steps.flatMap((s, i) =>
    s.dependsOn
      .map((d, j) => ({ d, j }))
      .filter(({ d }) => !ids.has(d))
      .map(({ d, j }) => ({ path: `steps[${i}].dependsOn[${j}]`, message: `names no step: '${d}'` })),
  );
  for (const cycle of findCycles(def.steps)) {
    problems.push({ path: 'steps', message: `dependsOn forms a cycle: ${cycle.join(' → ')}` });
  }
  if (problems.length) throw invalidDefinition(problems);

  const byId = new Map(def.steps.map((s) => [s.id, s]));
  const depth = new Map<string, number>();
  const levelOf = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    const level = Math.max(-1, ...byId.get(id)!.dependsOn.map(levelOf)) + 1;
    depth.set(id, level);
    return level;
  };
  const levels: string[][] = [];
  const dependents: Record<string, string[]> = {};
  for (const step of def.steps) {
    (levels[levelOf(step.id)] ??= []).push(step.id);
    dependents[step.id] ??= [];
    for (const dep of new Set(step.dependsOn)) (dependents[dep] ??= []).push(step.id);
  }
  return { order: levels.flat(), levels, dependents };
}
