/**
 * The names of the workflow functions and events, in a module with no imports: `functions/` registers
 * them at start-up without loading the interpreter. Function names follow the Functions host's rule
 * (a letter, then letters, digits, `_` or `-`); event names are free text.
 */

/** The orchestration that interprets a workflow definition (instance id = run id). */
export const WORKFLOW_ORCHESTRATOR = 'workflow_run';
/** The group chat sub-orchestration (instance id `<runId>:<stepId>`). */
export const GROUP_CHAT_ORCHESTRATOR = 'workflow_group_chat';
/** The one activity that records progress (run record, step records, event log). */
export const RECORD_ACTIVITY = 'workflow_record';
/** Agents with an activity of their own (`agent_<id>`); every other agent runs in `agent_custom`. */
export const BUILT_IN_AGENT_ACTIVITIES = ['architect', 'builder', 'validator', 'scribe', 'echo'] as const;
/** Every agent activity's name. */
export const AGENT_ACTIVITY_NAMES = [...BUILT_IN_AGENT_ACTIVITIES, 'custom'].map((id) => `agent_${id}`);
/** The external event that cancels a run (payload `{reason?}`). */
export const CANCEL_EVENT = 'workflow:cancel';
/** The external event that decides an approval step: `approval:<stepId>`, payload ApprovalDecision. */
export const approvalEventName = (stepId: string): string => `approval:${stepId}`;
/** The activity that puts a long step's agent call on the `agent-tasks` queue. */
export const ENQUEUE_TASK_ACTIVITY = 'workflow_enqueue_task';
/**
 * The external event a long task's worker raises when it is done (payload TaskOutcome): `task:<taskId>`
 * with `/` as `.`, because clients put event names in a URL path (`…/raiseEvent/{eventName}`, not
 * encoded). Within one run the mapping is one to one: step and branch ids have no `.`.
 */
export const taskEventName = (taskId: string): string => `task:${taskId.replace(/\//g, '.')}`;
/** Service Bus entities: job intake, long tasks, run results (and its subscription for local readers). */
export const JOBS_QUEUE = 'agent-jobs';
export const TASKS_QUEUE = 'agent-tasks';
export const RESULTS_TOPIC = 'agent-results';
export const RESULTS_SUBSCRIPTION = 'default';
/** The app setting (prefix) of the Service Bus connection the triggers and the client use. */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';
/** The activity that publishes a finished run's result message (agent-results, or the job's replyTo). */
export const PUBLISH_RESULT_ACTIVITY = 'workflow_publish_result';
