/**
 * One generator per step kind, driven by the interpreter (engine.ts): each yields durable tasks one at
 * a time and returns what the step produced. Deterministic: the only sources of time and results are
 * the context's tasks and `now()`. A step that cannot complete throws a StepError with a stable code.
 */
import { AppError } from '../errors';
import type { TokenUsage } from '../llm/types';
import type { OutputRef, StepStatus } from '../store/runs';
import { parseDuration } from './duration';
import {
  agentActivityName,
  approvalEventName,
  GROUP_CHAT_ORCHESTRATOR,
  type AgentActivityInput,
  type AgentActivityResult,
  type GroupChatInput,
  type GroupChatResult,
  type LongTaskInput,
  type RetryPolicy,
  type StepResult,
  type StoredText,
  type TaskOutcome,
  type TemplateVars,
  type WorkflowContext,
  type WorkflowTask,
} from './engine-port';
import { ENQUEUE_TASK_ACTIVITY, taskEventName } from './names';
import {
  itemsPath,
  type AgentStep,
  type ApprovalStep,
  type GroupChatStep,
  type ParallelStep,
  type ReviewStep,
  type Step,
} from './steps';

export type StepErrorCode =
  'STEP.FAILED' | 'STEP.TIMEOUT' | 'STEP.ITEMS_NOT_A_LIST' | 'STEP.CONDITION_FAILED' | 'APPROVAL.TIMEOUT';

/** Why a step failed; `code` is what the step record and the run error carry. */
export class StepError extends AppError {
  constructor(
    override readonly code: StepErrorCode,
    message: string,
  ) {
    super(code, message, { retryable: false });
  }
}

/** Any thrown value → a StepError (activity failures arrive as the SDK's TaskFailedError). */
export function toStepError(err: unknown): StepError {
  if (err instanceof StepError) return err;
  return new StepError('STEP.FAILED', err instanceof Error ? err.message : String(err));
}

/** What a step returns: its result without the bookkeeping the interpreter fills in. */
export type StepDone = Omit<
  StepResult,
  'id' | 'kind' | 'status' | 'startedAt' | 'completedAt' | 'error' | 'reason'
>;

export type StepGen = Generator<WorkflowTask, StepDone, unknown>;

/** What a step generator may use besides the durable context. */
export interface StepEnv {
  ctx: WorkflowContext;
  runId: string;
  /** `input` and the STEP_OUTPUTS of the steps completed so far. */
  vars(): TemplateVars;
  /** Adds an event of this step to the next record batch. */
  emit(type: string, data?: unknown): void;
  /** Changes the step's status while it runs (waiting_for_approval, then running). */
  status(status: StepStatus): void;
}

export const ZERO_TOKENS: TokenUsage = { prompt: 0, completion: 0, total: 0 };

/** The validator's prompt in a review loop; `task` (context) is the step's prompt. */
export const REVIEW_VALIDATOR_PROMPT =
  'Review this work (iteration {{ iteration }}) against the task and give your verdict.\n\n{{ work }}';

export const storedText = (refs: OutputRef[], separator?: string): StoredText =>
  separator === undefined ? { $text: refs } : { $text: refs, separator };

const retryOf = (step: Step): RetryPolicy | undefined =>
  step.retry && {
    firstIntervalMs: parseDuration(step.retry.firstInterval),
    maxAttempts: step.retry.maxAttempts,
    ...(step.retry.backoffCoefficient !== undefined && { backoffCoefficient: step.retry.backoffCoefficient }),
  };

/** A call raced with the step's timeout timer (when it has one). */
interface Call {
  task: WorkflowTask;
  call: WorkflowTask;
  timer?: WorkflowTask;
  timerOpen: boolean;
  /** Turns the call's result into the step's (a long task's outcome into the agent's result). */
  unwrap?: (result: unknown) => unknown;
}

/** A long step's call waits this long for its task when the step sets no timeout. */
export const LONG_TASK_TIMEOUT = 'PT2H';

function race(env: StepEnv, step: Step, call: WorkflowTask, unwrap?: Call['unwrap']): Call {
  const timeout = step.timeout ?? (step.long ? LONG_TASK_TIMEOUT : undefined);
  const base = { call, timerOpen: false, ...(unwrap && { unwrap }) };
  if (timeout === undefined) return { task: call, ...base };
  const timer = env.ctx.timer(new Date(env.ctx.now().getTime() + parseDuration(timeout)));
  return { ...base, task: env.ctx.any([call, timer]), timer, timerOpen: true };
}

function closeTimer(env: StepEnv, c: Call): void {
  if (c.timer && c.timerOpen) env.ctx.cancelTimer(c.timer);
  c.timerOpen = false;
}

/** The call's result from what yielding `c.task` gave; throws STEP.TIMEOUT or the call's failure. */
function settle<T>(env: StepEnv, step: Step, c: Call, value: unknown): T {
  let result = value;
  if (c.timer) {
    if (value === c.timer) {
      c.timerOpen = false;
      const limit = step.timeout ?? LONG_TASK_TIMEOUT;
      throw new StepError('STEP.TIMEOUT', `Step '${step.id}' did not finish within ${limit}`);
    }
    closeTimer(env, c);
    if (c.call.isFaulted) throw c.call.result;
    result = c.call.result;
  }
  return (c.unwrap ? c.unwrap(result) : result) as T;
}

/** A long task's outcome (the second result of enqueue + wait) as the agent activity's result. */
function taskResult(value: unknown): AgentActivityResult {
  const outcome = (value as [unknown, TaskOutcome])[1];
  if (!outcome.ok) throw new StepError('STEP.FAILED', `${outcome.error.code}: ${outcome.error.message}`);
  return outcome.result;
}

/**
 * A long call: the task goes on the agent-tasks queue (an activity sends it) and the orchestration
 * waits for the event its worker raises. Both are started together, so an event that arrives before
 * the send's completion is processed still finds its waiter.
 */
function longTask(env: StepEnv, step: Step, input: AgentActivityInput): WorkflowTask {
  const taskId = `${env.runId}:${input.call}:${input.attempt}`;
  const task: LongTaskInput = {
    taskId,
    instanceId: env.runId,
    activity: agentActivityName(input.agent),
    input,
  };
  return env.ctx.all([
    env.ctx.callActivity(ENQUEUE_TASK_ACTIVITY, task, retryOf(step)),
    env.ctx.waitForEvent(taskEventName(taskId)),
  ]);
}

interface AgentCallSpec {
  call: string;
  agent: string;
  prompt: string;
  context?: Record<string, string>;
  extra?: Record<string, unknown>;
  attempt?: number;
}

function startAgent(env: StepEnv, step: Step, spec: AgentCallSpec): Call {
  const input: AgentActivityInput = {
    runId: env.runId,
    stepId: step.id,
    call: spec.call,
    agent: spec.agent,
    prompt: spec.prompt,
    ...(spec.context && { context: spec.context }),
    vars: { ...env.vars(), ...spec.extra },
    attempt: spec.attempt ?? 1,
  };
  if (step.long) return race(env, step, longTask(env, step, input), taskResult);
  return race(env, step, env.ctx.callActivity(agentActivityName(spec.agent), input, retryOf(step)));
}

function* awaitCall<T>(env: StepEnv, step: Step, c: Call): Generator<WorkflowTask, T, unknown> {
  try {
    return settle<T>(env, step, c, yield c.task);
  } finally {
    closeTimer(env, c);
  }
}

const agentCall = (env: StepEnv, step: Step, spec: AgentCallSpec) =>
  awaitCall<AgentActivityResult>(env, step, startAgent(env, step, spec));

function usage(calls: { tokens: TokenUsage; cost: { total: number } }[]): Pick<StepDone, 'tokens' | 'cost'> {
  const tokens = { ...ZERO_TOKENS };
  let cost = 0;
  for (const c of calls) {
    tokens.prompt += c.tokens.prompt;
    tokens.completion += c.tokens.completion;
    tokens.total += c.tokens.total;
    cost += c.cost.total;
  }
  return { tokens, cost };
}

const output = (r: AgentActivityResult) => ({
  outputRef: r.outputRef,
  summary: r.summary,
  ...(r.parsed !== undefined && { parsed: r.parsed }),
});

function* agentStep(env: StepEnv, step: AgentStep): StepGen {
  const r = yield* agentCall(env, step, {
    call: step.id,
    agent: step.agent,
    prompt: step.prompt,
    ...(step.context && { context: step.context }),
  });
  return { agent: step.agent, calls: 1, ...usage([r]), ...output(r) };
}

/** The value at a path such as `input.topics` or `steps.plan.parsed.items`. */
function lookupPath(vars: TemplateVars, text: string): unknown {
  const path = itemsPath(text);
  if (!path) return undefined;
  let value: unknown = vars[path.root];
  for (const seg of path.segments) {
    value =
      value !== null && typeof value === 'object'
        ? (value as Record<string | number, unknown>)[seg]
        : undefined;
  }
  return value;
}

function branchSpecs(env: StepEnv, step: ParallelStep): AgentCallSpec[] {
  if (step.branches) {
    return step.branches.map((b, i) => ({
      call: `${step.id}/${b.id ?? `branch-${i + 1}`}`,
      agent: b.agent,
      prompt: b.prompt,
    }));
  }
  const each = step.forEach!;
  const items = lookupPath(env.vars(), each.items);
  if (!Array.isArray(items)) {
    throw new StepError(
      'STEP.ITEMS_NOT_A_LIST',
      `Step '${step.id}': forEach.items '${each.items}' is ${items === undefined ? 'not defined' : 'not a list'}`,
    );
  }
  const length = items.length;
  return items.map((item: unknown, i) => ({
    call: `${step.id}/item-${i + 1}`,
    agent: each.agent,
    prompt: each.prompt,
    extra: {
      item,
      loop: { index: i + 1, index0: i, first: i === 0, last: i === length - 1, length, revindex: length - i },
    },
  }));
}

function* parallelStep(env: StepEnv, step: ParallelStep): StepGen {
  const calls = branchSpecs(env, step).map((spec) => startAgent(env, step, spec));
  let branches: AgentActivityResult[] = [];
  try {
    const values = calls.length ? ((yield env.ctx.all(calls.map((c) => c.task))) as unknown[]) : [];
    branches = calls.map((c, i) => settle<AgentActivityResult>(env, step, c, values[i]));
  } finally {
    calls.forEach((c) => closeTimer(env, c));
  }
  const results = branches.map(output);
  if (!step.aggregate) {
    const summary = results.map((r) => r.summary).join('\n\n');
    return { calls: calls.length, ...usage(branches), summary, results };
  }
  const agg = yield* agentCall(env, step, {
    call: `${step.id}/aggregate`,
    agent: step.aggregate.agent,
    prompt: step.aggregate.prompt,
    extra: { results: results.map((r) => storedText([r.outputRef])) },
  });
  return {
    agent: step.aggregate.agent,
    calls: calls.length + 1,
    ...usage([...branches, agg]),
    ...output(agg),
    results,
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The validator's issues as text, for the builder's next iteration. */
export function feedbackText(verdict: unknown): string {
  const issues = isRecord(verdict) && Array.isArray(verdict.issues) ? verdict.issues : [];
  const lines = issues.map((issue) =>
    isRecord(issue)
      ? `- ${typeof issue.severity === 'string' ? `${issue.severity}: ` : ''}${String(issue.message)}`
      : `- ${String(issue)}`,
  );
  return lines.length ? lines.join('\n') : 'The validator did not pass the work.';
}

function* reviewStep(env: StepEnv, step: ReviewStep): StepGen {
  const done: AgentActivityResult[] = [];
  let feedback = '';
  let built: AgentActivityResult | undefined;
  let verdict: unknown;
  let approved = false;
  let iterations = 0;
  while (iterations < step.maxIterations && !approved) {
    iterations += 1;
    const extra = { iteration: iterations, feedback };
    built = yield* agentCall(env, step, {
      call: `${step.id}/builder-${iterations}`,
      agent: step.builder,
      prompt: step.prompt,
      extra,
      attempt: iterations,
    });
    const judged = yield* agentCall(env, step, {
      call: `${step.id}/validator-${iterations}`,
      agent: step.validator,
      prompt: REVIEW_VALIDATOR_PROMPT,
      context: { task: step.prompt },
      extra: { ...extra, work: storedText([built.outputRef]) },
      attempt: iterations,
    });
    done.push(built, judged);
    verdict = judged.parsed;
    approved = isRecord(verdict) && verdict.pass === true;
    feedback = approved ? '' : feedbackText(verdict);
  }
  return {
    agent: step.builder,
    calls: done.length,
    ...usage(done),
    outputRef: built!.outputRef,
    summary: built!.summary,
    ...(verdict !== undefined && { verdict }),
    approved,
    iterations,
  };
}

function* approvalStep(env: StepEnv, step: ApprovalStep): StepGen {
  const { ctx } = env;
  const expiresAt = new Date(ctx.now().getTime() + parseDuration(step.timeout));
  // The recorder renders the prompt (a template) with `vars`, once the stored texts are at hand.
  env.emit('approval.requested', {
    prompt: step.prompt,
    vars: env.vars(),
    expiresAt: expiresAt.toISOString(),
    onTimeout: step.onTimeout,
  });
  env.status('waiting_for_approval');
  const event = ctx.waitForEvent(approvalEventName(step.id));
  const timer = ctx.timer(expiresAt);
  const c: Call = { task: ctx.any([event, timer]), call: event, timer, timerOpen: true };
  let decision: { approved: boolean; comment?: string; by?: string; timedOut: boolean };
  try {
    const winner = yield c.task;
    if (winner === timer) {
      c.timerOpen = false;
      if (step.onTimeout === 'fail') {
        env.emit('approval.resolved', { approved: false, timedOut: true, onTimeout: 'fail' });
        throw new StepError(
          'APPROVAL.TIMEOUT',
          `Approval '${step.id}' got no decision within ${step.timeout}`,
        );
      }
      decision = { approved: step.onTimeout === 'approve', timedOut: true };
    } else {
      closeTimer(env, c);
      const payload = isRecord(event.result) ? event.result : {};
      decision = {
        approved: payload.approved === true,
        ...(typeof payload.comment === 'string' && { comment: payload.comment }),
        ...(typeof payload.by === 'string' && { by: payload.by }),
        timedOut: false,
      };
    }
  } finally {
    closeTimer(env, c);
  }
  env.status('running');
  env.emit('approval.resolved', decision);
  const { timedOut: _t, ...fields } = decision;
  return {
    calls: 0,
    tokens: { ...ZERO_TOKENS },
    cost: 0,
    summary: decision.approved ? 'approved' : 'rejected',
    ...fields,
  };
}

function* groupChatStep(env: StepEnv, step: GroupChatStep): StepGen {
  const input: GroupChatInput = {
    runId: env.runId,
    stepId: step.id,
    participants: step.participants,
    manager: step.manager,
    ...(step.selector !== undefined && { selector: step.selector }),
    maxRounds: step.maxRounds,
    ...(step.terminate && { terminate: step.terminate }),
    prompt: step.prompt,
    vars: env.vars(),
  };
  const c = race(
    env,
    step,
    env.ctx.callSubOrchestrator(GROUP_CHAT_ORCHESTRATOR, input, `${env.runId}:${step.id}`),
  );
  const r = yield* awaitCall<GroupChatResult>(env, step, c);
  return {
    calls: 1,
    ...usage([r]),
    outputRef: r.outputRef,
    summary: r.summary,
    transcript: r.transcript,
    rounds: r.rounds,
  };
}

/** The generator that runs a step of any kind. */
export function runStep(env: StepEnv, step: Step): StepGen {
  switch (step.kind) {
    case 'agent':
      return agentStep(env, step);
    case 'parallel':
      return parallelStep(env, step);
    case 'review':
      return reviewStep(env, step);
    case 'approval':
      return approvalStep(env, step);
    case 'groupChat':
      return groupChatStep(env, step);
  }
}

/** What templates read as `steps.<id>` (variables.ts STEP_OUTPUTS), output texts as StoredText. */
export function stepView(r: StepResult): Record<string, unknown> {
  const text = r.outputRef ? storedText([r.outputRef]) : undefined;
  switch (r.kind) {
    case 'agent':
      return { output: text, ...(r.parsed !== undefined && { parsed: r.parsed }) };
    case 'parallel': {
      const refs = (r.results ?? []).map((b) => b.outputRef);
      return { output: text ?? storedText(refs, '\n\n'), results: refs.map((ref) => storedText([ref])) };
    }
    case 'groupChat':
      return {
        output: text,
        transcript: (r.transcript ?? []).map((m) => ({
          speaker: m.speaker,
          content: storedText([m.outputRef]),
        })),
        rounds: r.rounds,
      };
    case 'review':
      return {
        output: text,
        ...(r.verdict !== undefined && { verdict: r.verdict }),
        approved: r.approved,
        iterations: r.iterations,
      };
    case 'approval':
      return {
        output: r.approved ? 'approved' : 'rejected',
        approved: r.approved,
        ...(r.comment !== undefined && { comment: r.comment }),
        ...(r.by !== undefined && { by: r.by }),
      };
  }
}
