/** The runs and monitoring routes of the route table (routes.ts spreads them into ROUTES). */
import type { RouteSpec } from './routes';

const RUN_ID = { id: 'Run id' };

export const RUN_ROUTES = {
  startRun: {
    name: 'startRun',
    method: 'POST',
    route: 'v1/runs',
    summary: 'Start a workflow run',
    description:
      'Starts a run of a registered workflow (`workflowId`, optionally `version`) or of an inline ' +
      '`definition`. The run pins the definition version it started with. With an idempotency key ' +
      '(body `idempotencyKey` or the Idempotency-Key header) repeated or concurrent starts make one run: ' +
      'the first answers 202, the others 200 with the same run.',
    tag: 'runs',
    requestHeaders: [{ name: 'Idempotency-Key', description: 'Same as the body field idempotencyKey' }],
    request: { schema: 'StartRunRequest', required: true },
    responses: {
      202: {
        description: 'Started',
        schema: 'RunStarted',
        headers: { location: 'The URL of the run' },
      },
      200: { description: 'The run an earlier start with this idempotency key made', schema: 'RunStarted' },
    },
    problems: [400, 404, 500, 503],
  },
  listRuns: {
    name: 'listRuns',
    method: 'GET',
    route: 'v1/runs',
    summary: 'List runs, newest first',
    description:
      'Query: status, workflowId, tenantId, createdFrom, createdTo (ISO 8601), limit (1-500, default 50), ' +
      'continuationToken (from the previous page).',
    tag: 'runs',
    responses: { 200: { description: 'A page of runs', schema: 'RunPage' } },
    problems: [400, 500],
  },
  getRun: {
    name: 'getRun',
    method: 'GET',
    route: 'v1/runs/{id}',
    summary: 'Read a run: status, steps, tokens, cost, durations',
    tag: 'runs',
    params: RUN_ID,
    responses: { 200: { description: 'The run', schema: 'Run' } },
    problems: [404, 500],
  },
  getStepOutput: {
    name: 'getStepOutput',
    method: 'GET',
    route: 'v1/runs/{id}/steps/{stepId}/output',
    summary: "A step's full output",
    tag: 'runs',
    params: { ...RUN_ID, stepId: 'Step id' },
    responses: { 200: { description: 'The output text', contentType: 'text/plain' } },
    problems: [404, 500],
  },
  runEvents: {
    name: 'runEvents',
    method: 'GET',
    route: 'v1/runs/{id}/events',
    summary: "Follow a run's events (SSE)",
    description:
      'Server-Sent Events, one per run event (RunEvent as `data`, its type as `event`, its id as `id`): ' +
      'run.started, step.started, step.delta (model output chunks), step.completed, step.failed, ' +
      'step.skipped, approval.requested, approval.resolved, budget.exceeded, run.completed|failed|cancelled. ' +
      'Resume with the Last-Event-ID header (or `?lastEventId=`): no gap, no duplicate. The stream ends ' +
      'after the terminal event; heartbeat comments keep idle connections open. With ' +
      '`Accept: application/json` the events come as one JSON page instead (`?lastEventId`, `?limit`).',
    tag: 'runs',
    params: RUN_ID,
    requestHeaders: [{ name: 'Last-Event-ID', description: 'The id of the last event the client has' }],
    responses: { 200: { description: 'An event stream of RunEvent', contentType: 'text/event-stream' } },
    problems: [400, 404, 500],
  },
  decideApproval: {
    name: 'decideApproval',
    method: 'POST',
    route: 'v1/runs/{id}/approval',
    summary: 'Approve or reject a waiting approval step',
    description: 'One decision per approval: a second one answers 409 APPROVAL.ALREADY_DECIDED.',
    tag: 'runs',
    params: RUN_ID,
    request: { schema: 'ApprovalRequest', required: true },
    responses: { 202: { description: 'Decision delivered', schema: 'ApprovalAccepted' } },
    problems: [400, 404, 409, 500],
  },
  cancelRun: {
    name: 'cancelRun',
    method: 'POST',
    route: 'v1/runs/{id}/cancel',
    summary: 'Cancel a run',
    description: 'Running steps are cancelled, the rest skipped; the run ends `cancelled`.',
    tag: 'runs',
    params: RUN_ID,
    request: { schema: 'CancelRequest', required: false },
    responses: { 202: { description: 'Cancellation requested', schema: 'CancelAccepted' } },
    problems: [400, 404, 409, 500],
  },
  metrics: {
    name: 'monitoringMetrics',
    method: 'GET',
    route: 'v1/monitoring/metrics',
    summary: 'Runs, steps, tokens, cost and latency percentiles',
    description:
      'Over a window (`from`, `to`, ISO 8601; default the last 24 hours), optionally one `workflowId`: ' +
      'runs by status and success rate, run latency p50/p95/p99, steps by status and latency per agent, ' +
      'tokens and cost per agent and per workflow.',
    tag: 'monitoring',
    responses: { 200: { description: 'The metrics', schema: 'Metrics' } },
    problems: [400, 500],
  },
} satisfies Record<string, RouteSpec>;
