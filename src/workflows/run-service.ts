/**
 * Workflow runs as a use case: start (idempotent by key), read, decide an approval, cancel. A run is a
 * record in the run store plus a durable orchestration whose instance id is the run id; the
 * orchestration input carries the pinned definition, so later edits (or deletion) of the workflow never
 * change a run in flight. The durable client is a port, so the same code runs under the Functions host,
 * the local host and unit tests.
 */
import { randomUUID } from 'node:crypto';
import { validateAgainst } from '../agents/json-schema';
import { AppError, ConflictError, ValidationError } from '../errors';
import {
  isTerminalStatus,
  runNotFound,
  type RunOrigin,
  type RunRecord,
  type RunStore,
  type StepRecord,
} from '../store/runs';
import { currentTraceparent, statusSnapshot, traceEnded } from '../telemetry';
import type { WorkflowDefinition } from './definition';
import type { ApprovalDecision } from './engine-port';
import { approvalEventName, CANCEL_EVENT, WORKFLOW_ORCHESTRATOR } from './names';

/** How long a run may stay `pending` before a repeated start (same key) starts its orchestration again. */
export const STALE_PENDING_MS = 30_000;

export interface WorkflowRunInput {
  runId: string;
  definition: WorkflowDefinition;
  input: unknown;
  budget?: { maxTokens?: number; maxCostUsd?: number };
  /** Whether the orchestration publishes the run's result message when it ends (Service Bus configured). */
  publishResult?: boolean;
}

/** What the service needs from a durable client (df.DurableClient fits through a small adapter). */
export interface OrchestrationClient {
  startNew(name: string, instanceId: string, input: unknown): Promise<void>;
  raiseEvent(instanceId: string, eventName: string, data: unknown): Promise<void>;
  /** undefined when no such instance exists. */
  getStatus(instanceId: string): Promise<{ runtimeStatus: string } | undefined>;
}

export interface StartRunRequest {
  workflowId?: string;
  version?: string;
  /** An inline definition (validated like a registered one); exclusive with workflowId. */
  definition?: unknown;
  input?: unknown;
  idempotencyKey?: string;
  tenantId?: string;
  budget?: { maxTokens?: number; maxCostUsd?: number };
  /** A fixed run (and instance) id, e.g. a Service Bus job's id; a random UUID otherwise. */
  runId?: string;
  /** Where the run came from and where its result goes. */
  origin?: RunOrigin;
}

export interface RunServiceDeps {
  runs: RunStore;
  /** A registered (or built-in) workflow; NotFoundError when there is none. */
  resolveWorkflow(id: string, version?: string): Promise<WorkflowDefinition>;
  /** The full check of an inline definition; ValidationError listing every problem. */
  validateDefinition(definition: unknown): Promise<WorkflowDefinition>;
  now?: () => number;
  /** Runs publish their result message when they end (false: no Service Bus is configured). */
  publishResults?: boolean;
}

export interface StartedRun {
  run: RunRecord;
  created: boolean;
}

const notActive = (run: RunRecord): ConflictError =>
  new ConflictError('RUN.NOT_ACTIVE', `Run '${run.id}' is ${run.status}: it takes no more decisions.`);

export class RunService {
  private readonly now: () => number;

  constructor(private readonly deps: RunServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The definition the request names, its input checked against the workflow's input schema. */
  private async definitionOf(req: StartRunRequest): Promise<WorkflowDefinition> {
    if ((req.workflowId === undefined) === (req.definition === undefined)) {
      throw new ValidationError([
        {
          path: 'workflowId',
          message: 'give either workflowId (a registered workflow) or definition (inline)',
        },
      ]);
    }
    const def =
      req.definition !== undefined
        ? await this.deps.validateDefinition(req.definition)
        : await this.deps.resolveWorkflow(req.workflowId!, req.version);
    if (def.input) {
      const checked = validateAgainst(def.input, req.input ?? {});
      if (!checked.ok) {
        throw new ValidationError(
          checked.problems.map((p) => {
            const at = p.indexOf(': ');
            const path = p.slice(0, at);
            return { path: path === '(root)' ? 'input' : `input.${path}`, message: p.slice(at + 2) };
          }),
          undefined,
          'RUN.INVALID_INPUT',
        );
      }
    }
    return def;
  }

  /**
   * Creates the run and starts its orchestration. With an idempotency key, a repeated (or concurrent)
   * start answers the existing run with `created: false` and starts nothing — unless that run is still
   * pending long after its creation with no orchestration behind it (its starter crashed in between), or
   * its start failed (RUN.START_FAILED).
   */
  async start(req: StartRunRequest, client: OrchestrationClient): Promise<StartedRun> {
    const definition = await this.definitionOf(req);
    const steps: Record<string, StepRecord> = {};
    for (const s of definition.steps) {
      steps[s.id] = {
        id: s.id,
        kind: s.kind,
        status: 'pending',
        attempts: 0,
        ...(s.kind === 'agent' && { agent: s.agent }),
      };
    }
    // The trace of the request (or message) starting the run: the run's activities continue it.
    const traceparent = currentTraceparent();
    const { run, created } = await this.deps.runs.createRun({
      id: req.runId ?? randomUUID(),
      workflowId: definition.id,
      workflowVersion: definition.version,
      input: req.input ?? {},
      status: 'pending',
      steps,
      ...(req.idempotencyKey !== undefined && { idempotencyKey: req.idempotencyKey }),
      ...(req.tenantId !== undefined && { tenantId: req.tenantId }),
      ...(req.origin && { origin: req.origin }),
      ...(traceparent !== undefined && { traceparent }),
    });
    if (!created) {
      const stale = run.status === 'pending' && this.now() - Date.parse(run.createdAt) > STALE_PENDING_MS;
      const startFailed = run.status === 'failed' && run.error?.code === 'RUN.START_FAILED';
      if ((stale || startFailed) && !(await client.getStatus(run.id))) {
        // Its starter crashed, or the task hub refused it: a repeated start (a redelivered job, a
        // client's retry with the same key) starts it now.
        const again = startFailed
          ? await this.deps.runs.updateRun(run.id, (r) => {
              r.status = 'pending';
              delete r.error;
              delete r.completedAt;
            })
          : run;
        await this.launch(again, await this.definitionForExisting(again, req), req, client);
        return { run: again, created };
      }
      return { run, created };
    }
    await this.launch(run, definition, req, client);
    return { run, created };
  }

  private async definitionForExisting(run: RunRecord, req: StartRunRequest): Promise<WorkflowDefinition> {
    return req.definition !== undefined
      ? this.deps.validateDefinition(req.definition)
      : this.deps.resolveWorkflow(run.workflowId, run.workflowVersion);
  }

  private async launch(
    run: RunRecord,
    definition: WorkflowDefinition,
    req: StartRunRequest,
    client: OrchestrationClient,
  ): Promise<void> {
    const input: WorkflowRunInput = {
      runId: run.id,
      definition,
      input: run.input,
      ...(req.budget && { budget: req.budget }),
      ...(this.deps.publishResults === false && { publishResult: false }),
    };
    try {
      await client.startNew(WORKFLOW_ORCHESTRATOR, run.id, input);
    } catch (err) {
      // The run must not stay pending for ever: it failed to start, and says why.
      const failed = await this.deps.runs.updateRun(run.id, (r) => {
        r.status = 'failed';
        r.completedAt = new Date(this.now()).toISOString();
        r.error = { code: 'RUN.START_FAILED', message: `The orchestration did not start: ${String(err)}` };
      });
      traceEnded(statusSnapshot(run), failed);
      throw new AppError('RUN.START_FAILED', `Run '${run.id}' could not start its orchestration.`, {
        status: 503,
        retryable: true,
        cause: err,
      });
    }
  }

  async get(id: string): Promise<RunRecord> {
    const run = await this.deps.runs.getRun(id);
    if (!run) throw runNotFound(id);
    return run;
  }

  /**
   * Decides a waiting approval. The step must be waiting (409 APPROVAL.NOT_PENDING otherwise), and of
   * two concurrent decisions exactly one wins: the step leaves `waiting_for_approval` in the same
   * compare-and-swap write that admits the decision (409 APPROVAL.ALREADY_DECIDED for the other).
   */
  async decide(
    id: string,
    decision: ApprovalDecision & { stepId?: string },
    client: OrchestrationClient,
  ): Promise<{ run: RunRecord; stepId: string }> {
    const run = await this.get(id);
    if (isTerminalStatus(run.status)) throw notActive(run);
    const waiting = Object.values(run.steps).filter((s) => s.status === 'waiting_for_approval');
    let stepId = decision.stepId;
    if (stepId === undefined) {
      if (waiting.length > 1) {
        throw new ValidationError([
          {
            path: 'stepId',
            message: `several approvals are waiting (${waiting.map((s) => s.id).join(', ')}): name one`,
          },
        ]);
      }
      stepId = waiting[0]?.id;
    }
    if (stepId === undefined || !Object.hasOwn(run.steps, stepId)) {
      throw new ConflictError(
        'APPROVAL.NOT_PENDING',
        stepId === undefined
          ? `Run '${id}' is not waiting for an approval.`
          : `Run '${id}' has no step '${stepId}'.`,
      );
    }
    const target = stepId;
    const updated = await this.deps.runs.updateRun(id, (r) => {
      const step = r.steps[target];
      if (isTerminalStatus(r.status)) throw notActive(r);
      if (step?.status !== 'waiting_for_approval') {
        throw step?.kind === 'approval' && step.status !== 'pending'
          ? new ConflictError(
              'APPROVAL.ALREADY_DECIDED',
              `Approval '${target}' of run '${id}' was already decided.`,
            )
          : new ConflictError(
              'APPROVAL.NOT_PENDING',
              `Step '${target}' of run '${id}' is not waiting for an approval.`,
            );
      }
      step.status = 'running';
    });
    const { stepId: _s, ...payload } = decision;
    try {
      await client.raiseEvent(id, approvalEventName(target), payload);
    } catch (err) {
      // Not delivered: the approval waits again, so the decision can be made again.
      await this.deps.runs.updateRun(id, (r) => {
        const step = r.steps[target];
        if (step?.status === 'running' && !isTerminalStatus(r.status)) step.status = 'waiting_for_approval';
      });
      throw err;
    }
    return { run: updated, stepId: target };
  }

  /** Asks the orchestration to cancel; 409 when the run already ended. */
  async cancel(id: string, reason: string | undefined, client: OrchestrationClient): Promise<RunRecord> {
    const run = await this.get(id);
    if (isTerminalStatus(run.status)) {
      throw new ConflictError('RUN.NOT_ACTIVE', `Run '${id}' is ${run.status}: there is nothing to cancel.`);
    }
    await client.raiseEvent(id, CANCEL_EVENT, reason === undefined ? {} : { reason });
    return run;
  }
}
