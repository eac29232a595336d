/**
 * The workflow activities' work, free of any host type so it is tested directly:
 * - `runAgentActivity` (behind `agent_architect` … `agent_custom`): resolves the stored texts the
 *   variables reference, renders the prompt and context templates, runs the agent (streaming, so the
 *   run's event log gets `step.delta` chunks), stores the output and returns its reference;
 * - `recordActivity` (behind `workflow_record`): applies a batch of run and step changes, then appends
 *   the batch's events in order.
 * Activities run at least once: storing an output is content-addressed (a second run of the same call
 * writes no second copy), step patches are absolute values, and a record batch's events are appended at
 * most once (its number), so applying a batch twice changes nothing. A call that runs again streams its
 * deltas again: each `step.delta` carries the `offset` of its text in the call's output, so a client
 * sees a restart as an offset going back to 0.
 */
import { renderTemplate } from '../agents/template';
import { AppError } from '../errors';
import type { AgentRunResult, AgentService, AgentTask } from '../agents/types';
import { summarize } from '../store/payloads';
import {
  applyStepPatch,
  isTerminalStatus,
  type EventLog,
  type OutputRef,
  type RunRecord,
  type RunStore,
} from '../store/runs';
import { runScopeOf, statusSnapshot, traceEnded, withRunScope, type StatusSnapshot } from '../telemetry';
import type {
  AgentActivityInput,
  AgentActivityResult,
  RecordEvent,
  RecordInput,
  StoredText,
} from './engine-port';

export interface WorkflowActivityDeps {
  agents: AgentService;
  runs: RunStore;
  events: EventLog;
  /** Chunks of model output are coalesced into one `step.delta` per this many ms; 0 turns deltas off. */
  deltaFlushMs: number;
  now?: () => Date;
}

const isStoredText = (v: unknown): v is StoredText =>
  typeof v === 'object' && v !== null && Array.isArray((v as StoredText).$text);

/**
 * A copy of `value` with every StoredText replaced by its texts (joined by its separator); each ref is
 * read once per call however often it appears.
 */
export async function resolveStoredTexts(value: unknown, runs: RunStore): Promise<unknown> {
  const texts = new Map<string, Promise<string>>();
  const read = (ref: OutputRef): Promise<string> => {
    let text = texts.get(ref.ref);
    if (!text) texts.set(ref.ref, (text = runs.getOutput(ref)));
    return text;
  };
  const walk = async (v: unknown): Promise<unknown> => {
    if (isStoredText(v)) return (await Promise.all(v.$text.map(read))).join(v.separator ?? '');
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (typeof v !== 'object' || v === null) return v;
    const entries = await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await walk(x)] as const));
    return Object.fromEntries(entries);
  };
  return walk(value);
}

/** Runs the agent, appending coalesced `step.delta` events; the result as `execute` gives it. */
async function streamWithDeltas(
  deps: WorkflowActivityDeps,
  input: AgentActivityInput,
  task: AgentTask,
): Promise<AgentRunResult> {
  const { runId, stepId, call } = input;
  let pending = '';
  let offset = 0;
  let last = Date.now();
  let writes: Promise<unknown> = Promise.resolve();
  // A failed append fails the activity (after the stream), never as an unhandled rejection meanwhile.
  let failure: Error | undefined;
  const flush = (): void => {
    if (!pending) return;
    const delta = pending;
    const at = offset;
    offset += delta.length;
    pending = '';
    last = Date.now();
    // Appends stay in order; the activity waits for all of them before it returns.
    writes = writes
      .then(() =>
        deps.events.append(runId, { type: 'step.delta', stepId, data: { call, offset: at, delta } }),
      )
      .catch((err: unknown) => {
        failure ??= err instanceof Error ? err : new Error(String(err));
      });
  };
  const controller = new AbortController();
  const stream = deps.agents.stream({ ...task, signal: controller.signal });
  for (;;) {
    let next: IteratorResult<string, AgentRunResult>;
    try {
      next = await stream.next();
    } catch (err) {
      throw failure ?? err;
    }
    if (next.done) {
      flush();
      await writes;
      if (failure !== undefined) throw failure;
      return next.value;
    }
    pending += next.value;
    if (Date.now() - last >= deps.deltaFlushMs) flush();
  }
}

/** The work of an agent activity; see the file comment. */
export async function runAgentActivity(
  deps: WorkflowActivityDeps,
  input: AgentActivityInput,
): Promise<AgentActivityResult> {
  // A call of a run that already ended (cancelled; a group chat still taking turns) is not made.
  const run = await deps.runs.getRun(input.runId);
  if (run && isTerminalStatus(run.status)) {
    throw new AppError(
      'RUN.NOT_ACTIVE',
      `Run '${input.runId}' is ${run.status}: call ${input.call} is not made.`,
    );
  }
  const vars = (await resolveStoredTexts(input.vars, deps.runs)) as Record<string, unknown>;
  const where = `step '${input.stepId}' (${input.call})`;
  const prompt = renderTemplate(input.prompt, vars, { name: `prompt of ${where}` });
  const task: AgentTask = { agent: input.agent, prompt };
  if (input.context) {
    task.context = Object.fromEntries(
      Object.entries(input.context).map(([k, t]) => [
        k,
        renderTemplate(t, vars, { name: `context.${k} of ${where}` }),
      ]),
    );
  }
  // The agent and model spans join the run's trace and carry its ids (src/telemetry).
  const scope = {
    ...(run ? runScopeOf(run) : { runId: input.runId }),
    stepId: input.stepId,
    call: input.call,
  };
  const result = await withRunScope(scope, () =>
    deps.deltaFlushMs > 0 ? streamWithDeltas(deps, input, task) : deps.agents.execute(task),
  );
  const outputRef = await deps.runs.putOutput(input.runId, input.stepId, result.output);
  const out: AgentActivityResult = {
    outputRef,
    summary: summarize(result.output),
    tokens: result.tokenUsage,
    cost: { total: result.cost.total },
    model: result.model,
  };
  if (result.parsed !== undefined) out.parsed = result.parsed;
  if (input.detectKeyword !== undefined) {
    out.keywordFound = result.output.toLowerCase().includes(input.detectKeyword.toLowerCase());
  }
  return out;
}

/**
 * `approval.requested` comes with its prompt template and the variables (stored texts by reference):
 * the approver reads the rendered prompt. A prompt that does not render is shown as written.
 */
async function renderApprovalPrompt(deps: WorkflowActivityDeps, event: RecordEvent): Promise<RecordEvent> {
  const data = event.data as { prompt?: unknown; vars?: unknown } | undefined;
  if (event.type !== 'approval.requested' || typeof data?.prompt !== 'string' || data.vars === undefined) {
    return event;
  }
  const { vars, ...rest } = data;
  try {
    const resolved = (await resolveStoredTexts(vars, deps.runs)) as Record<string, unknown>;
    return {
      ...event,
      data: { ...rest, prompt: renderTemplate(data.prompt, resolved, { name: 'approval prompt' }) },
    };
  } catch {
    return { ...event, data: rest };
  }
}

/** Applies a record batch to the run record (one compare-and-swap write), then appends its events. */
export async function recordActivity(deps: WorkflowActivityDeps, input: RecordInput): Promise<void> {
  const { run, steps } = input;
  if (run || steps) {
    const at = run?.at ?? (deps.now?.() ?? new Date()).toISOString();
    // Statuses before the write that applied (mutate may run again on a conflict): telemetry reports
    // each step and the run once, when they end.
    const seen: { before?: StatusSnapshot } = {};
    const updated = await deps.runs.updateRun(input.runId, (record: RunRecord) => {
      seen.before = statusSnapshot(record);
      for (const [id, patch] of Object.entries(steps ?? {})) applyStepPatch(record, id, patch);
      if (run?.status && !isTerminalStatus(record.status)) {
        record.status = run.status;
        if (run.status !== 'pending') record.startedAt ??= at;
        if (isTerminalStatus(run.status)) record.completedAt ??= at;
        // A finished run keeps its outcome: no later error overwrites it.
        if (run.error) record.error = run.error;
      }
    });
    if (seen.before) traceEnded(seen.before, updated, deps.now?.());
  }
  const events = await Promise.all(input.events.map((e) => renderApprovalPrompt(deps, e)));
  // Numbered batches make the append happen once even when this activity runs again after a crash.
  await deps.events.appendMany(input.runId, events, input.batch === undefined ? {} : { batch: input.batch });
}
