/**
 * GET /api/v1/monitoring/metrics: what the seed's monitoring endpoints report, computed from the run
 * store over a time window (default: the last 24 hours, at most MAX_RUNS runs, newest first): runs by
 * status and success rate, run latency percentiles, steps by status and latency per agent, tokens and
 * cost per agent and per workflow. Application Insights carries the same figures on Azure.
 */
import { ValidationError } from '../errors';
import type { RunQuery, RunRecord, RunStore } from '../store/runs';

export const DEFAULT_WINDOW_MS = 24 * 3600_000;
/** Runs read per request at most; `window.truncated` says when the window held more. */
export const MAX_RUNS = 10_000;

interface Usage {
  tokens: { prompt: number; completion: number; total: number };
  costUsd: number;
  steps: number;
}

const zeroUsage = (): Usage => ({ tokens: { prompt: 0, completion: 0, total: 0 }, costUsd: 0, steps: 0 });
const round = (usd: number): number => Math.round(usd * 1e10) / 1e10;

/** Nearest-rank percentiles of a sample (0 for an empty one). */
export function percentiles(values: number[]): { count: number; p50: number; p95: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0;
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99) };
}

function windowOf(query: URLSearchParams, now: number): { from: string; to: string } {
  const parse = (name: string, fallback: number): string => {
    const v = query.get(name);
    if (v === null) return new Date(fallback).toISOString();
    const t = Date.parse(v);
    if (Number.isNaN(t))
      throw new ValidationError([{ path: name, message: 'must be an ISO 8601 date-time' }]);
    return new Date(t).toISOString();
  };
  const to = parse('to', now);
  const from = parse('from', Date.parse(to) - DEFAULT_WINDOW_MS);
  if (from >= to) throw new ValidationError([{ path: 'from', message: "must be before 'to'" }]);
  return { from, to };
}

async function runsIn(store: RunStore, query: RunQuery): Promise<{ runs: RunRecord[]; truncated: boolean }> {
  const runs: RunRecord[] = [];
  let token: string | undefined;
  do {
    const page = await store.listRuns({ ...query, limit: 500, ...(token && { continuationToken: token }) });
    runs.push(...page.items);
    token = page.continuationToken;
  } while (token && runs.length < MAX_RUNS);
  return { runs: runs.slice(0, MAX_RUNS), truncated: runs.length > MAX_RUNS || token !== undefined };
}

function add(into: Usage, step: RunRecord['steps'][string]): void {
  into.steps += 1;
  into.tokens.prompt += step.tokens?.prompt ?? 0;
  into.tokens.completion += step.tokens?.completion ?? 0;
  into.tokens.total += step.tokens?.total ?? 0;
  into.costUsd = round(into.costUsd + (step.cost?.total ?? 0));
}

export async function computeMetrics(store: RunStore, query: URLSearchParams, now: number) {
  const window = windowOf(query, now);
  const workflowId = query.get('workflowId') ?? undefined;
  const { runs, truncated } = await runsIn(store, {
    createdFrom: window.from,
    createdTo: window.to,
    ...(workflowId && { workflowId }),
  });
  // Keys are ids (an agent may be called `constructor`): maps without a prototype.
  const dict = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;
  const runsByStatus = dict<number>();
  const stepsByStatus = dict<number>();
  const runLatency: number[] = [];
  const stepLatency = new Map<string, number[]>();
  const byAgent = dict<Usage>();
  const byWorkflow = dict<Usage & { runs: number }>();
  const total = zeroUsage();
  for (const run of runs) {
    runsByStatus[run.status] = (runsByStatus[run.status] ?? 0) + 1;
    if (run.status === 'completed' || run.status === 'failed') runLatency.push(run.totals.durationMs);
    const wf = (byWorkflow[run.workflowId] ??= { ...zeroUsage(), runs: 0 });
    wf.runs += 1;
    for (const step of Object.values(run.steps)) {
      stepsByStatus[step.status] = (stepsByStatus[step.status] ?? 0) + 1;
      if (step.status === 'pending' || step.status === 'skipped') continue;
      const agent = step.agent ?? step.kind;
      add((byAgent[agent] ??= zeroUsage()), step);
      add(wf, step);
      add(total, step);
      if (step.status === 'completed' && step.durationMs !== undefined) {
        const list = stepLatency.get(agent) ?? [];
        list.push(step.durationMs);
        stepLatency.set(agent, list);
      }
    }
  }
  const finished = (runsByStatus.completed ?? 0) + (runsByStatus.failed ?? 0);
  return {
    window: { ...window, runs: runs.length, truncated },
    runs: {
      byStatus: runsByStatus,
      latencyMs: percentiles(runLatency),
      successRate: finished ? (runsByStatus.completed ?? 0) / finished : null,
    },
    steps: {
      byStatus: stepsByStatus,
      latencyMsByAgent: Object.fromEntries(
        [...stepLatency].map(([agent, list]) => [agent, percentiles(list)]),
      ),
    },
    tokens: total.tokens,
    costUsd: total.costUsd,
    byAgent,
    byWorkflow,
  };
}
