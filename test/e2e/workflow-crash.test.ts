/**
 * The workflow system under crashes: a child local host runs the project's app (test/fixtures/apps/
 * workflow-app: functions/index.ts plus hooks logging each agent activity execution) with the offline
 * model, a batch of runs of the three built-in workflows is started, the host is SIGKILLed at random
 * moments while agent calls are in flight and restarted on the same data each time. Required: every run
 * completes, every event log is whole (gapless ids, each step completed once, one terminal event), and
 * no agent call whose completion had been committed to the durable store before a kill ran again after
 * it (calls in flight at a kill may run again: activities run at least once).
 *
 * Evidence that a call ran again, two independent ways:
 * - the execution log: every execution appends `start` (before the handler) with its process id, so a
 *   `start` in the process after kill k of a call committed at kill k or earlier is a re-run;
 * - the run's event log: every execution streams `step.delta` events `{call, delta}` into it, so a delta
 *   of such a call with an id above the run's last event id at kill k is a re-run.
 * "Committed" is read from the durable store's SQLite file after each kill, while no process has it
 * open: a TaskCompleted of the call's TaskScheduled, in the instance's history or in its inbox (the
 * completion is committed with the removal of the activity's work item, before the orchestration
 * consumes it). Sets are kept across kills: a group chat's history is reset when it continues as new.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, compiledFixtureApp, spawnHost, waitForHttp, type ChildHost } from '../helpers/child-host';
import { tempDir } from '../helpers/durable-harness';

const KILLS = 8;
/** Of each workflow: 3 × 16 runs, about 220 agent calls. */
const RUNS_PER_WORKFLOW = 16;
/** Offline model latency per call (ms); the first process, which starts the batch, has a slow model. */
const MODEL_MS = 80;
const FIRST_MODEL_MS = 5000;
const ASPECTS = ['security', 'cost', 'scalability', 'operability', 'privacy'];
const WORKFLOW_STEPS: Record<string, string[]> = {
  'agent-studio-pipeline': ['design', 'implement', 'review', 'document'],
  'parallel-analysis': ['analysis'],
  'design-review-chat': ['discussion'],
};
const TERMINAL_TYPES = ['run.completed', 'run.failed', 'run.cancelled'];

/** `runId \t call`: unique per agent call of a run. */
const keyOf = (runId: string, call: string): string => `${runId}\t${call}`;

interface Execution {
  phase: 'start' | 'end';
  activity: string;
  key: string;
  pid: number;
}

function executions(log: string): Execution[] {
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('start\t') || l.startsWith('end\t'))
    .map((l) => {
      const [phase, activity, runId, call, pid] = l.split('\t');
      return {
        phase: phase as Execution['phase'],
        activity: activity!,
        key: keyOf(runId!, call!),
        pid: Number(pid),
      };
    });
}

interface HistoryEvent {
  EventType: number;
  EventId: number;
  Name?: string;
  Input?: string;
  TaskScheduledId?: number;
}

/** Keys of agent activity calls whose TaskCompleted is committed in the durable store (history or inbox). */
function committedCalls(dbFile: string): Set<string> {
  const db = new Database(dbFile, { readonly: true });
  try {
    const rows = [
      ...(db.prepare('SELECT instance_id, event FROM dt_history ORDER BY instance_id, idx').all() as {
        instance_id: string;
        event: string;
      }[]),
      ...(db.prepare('SELECT instance_id, event FROM dt_inbox ORDER BY seq').all() as {
        instance_id: string;
        event: string;
      }[]),
    ];
    const scheduled = new Map<string, string>();
    const done: string[] = [];
    for (const row of rows) {
      const e = JSON.parse(row.event) as HistoryEvent;
      if (e.EventType === 4 && e.Name?.startsWith('agent_')) {
        const input = JSON.parse(e.Input!) as { runId: string; call: string };
        scheduled.set(`${row.instance_id}#${e.EventId}`, keyOf(input.runId, input.call));
      }
      if (e.EventType === 5) done.push(`${row.instance_id}#${e.TaskScheduledId}`);
    }
    return new Set(done.filter((id) => scheduled.has(id)).map((id) => scheduled.get(id)!));
  } finally {
    db.close();
  }
}

/** The last event id of every run in the run store. */
function lastEventIds(dbFile: string): Map<string, number> {
  if (!fs.existsSync(dbFile)) return new Map();
  const db = new Database(dbFile, { readonly: true });
  try {
    const rows = db.prepare('SELECT run_id, last_id FROM run_event_seq').all() as {
      run_id: string;
      last_id: number;
    }[];
    return new Map(rows.map((r) => [r.run_id, r.last_id]));
  } finally {
    db.close();
  }
}

interface RunEvent {
  id: number;
  type: string;
  stepId?: string;
  at: string;
  data?: { call?: string };
}

interface RunView {
  id: string;
  workflowId: string;
  status: string;
  steps: Record<string, { status: string; attempts: number }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(url, { headers });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function allEvents(base: string, runId: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for (;;) {
    const after = events.at(-1)?.id ?? 0;
    const page = await getJson<{ items: RunEvent[]; lastId: number }>(
      `${base}/api/v1/runs/${runId}/events?after=${after}&limit=5000`,
      { accept: 'application/json' },
    );
    events.push(...page.items);
    if (!page.items.length || events.at(-1)!.id >= page.lastId) return events;
  }
}

/**
 * Agent call completions committed in the durable store so far (a cheap count while the host runs:
 * TaskCompleted events whose result is not `null`, which only `workflow_record` returns).
 */
function completions(dbFile: string): number {
  if (!fs.existsSync(dbFile)) return 0;
  const db = new Database(dbFile, { readonly: true });
  try {
    const where = `event LIKE '{"EventType":5,%' AND event NOT LIKE '%"Result":"null"%'`;
    const count = (table: string) =>
      (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).get() as { n: number }).n;
    return count('dt_history') + count('dt_inbox');
  } finally {
    db.close();
  }
}

/** Waits until `target` more agent call completions are committed than `from` (or `maxMs` passed). */
async function untilCommitted(dbFile: string, from: number, target: number, maxMs: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs && completions(dbFile) < from + target) await sleep(5);
}

test('workflow runs complete across random SIGKILLs and no committed agent call runs again', async () => {
  const started = Date.now();
  const app = compiledFixtureApp('workflow-app', { hostJson: path.join(ROOT, 'host.json') });
  const data = tempDir('wf-crash-');
  fs.mkdirSync(path.join(data, 'db'));
  const log = path.join(data, 'executions.log');
  const runsDb = path.join(data, 'db', 'runs.sqlite');
  const hostData = path.join(data, 'host');
  const durableDb = path.join(hostData, 'local-host.sqlite');
  const env = {
    FIXTURE_EXEC_LOG: log,
    LLM_PROVIDER: 'offline',
    OFFLINE_TOKEN_DELAY_MS: '0',
    OFFLINE_FAULTS: '',
    LLM_CACHE_TTL_SECONDS: '0',
    CATALOG_STORE: 'sqlite',
    CATALOG_SQLITE_PATH: path.join(data, 'db', 'catalog.sqlite'),
    RUN_STORE: 'sqlite',
    RUN_SQLITE_PATH: runsDb,
    RUN_DELTA_FLUSH_MS: '5',
  };

  const runs = new Map<string, string>(); // run id → workflow id
  /** Call key → the kill after which its completion was first seen committed. */
  const committedAt = new Map<string, number>();
  /** Per kill: each run's last event id once the process was dead. */
  const marks: Map<string, number>[] = [];
  const killedPids = new Set<number>();
  const violations: string[] = [];
  const kills: { inFlight: number; ended: number; newlyCommitted: number; ms: number }[] = [];
  let host: ChildHost | undefined;
  /** Agent call completions committed when the last process died. */
  let committedBefore = 0;

  try {
    for (let round = 0; round <= KILLS; round++) {
      // The batch takes a while to start (on a busy machine, seconds): with a fast model the first process
      // would get through most of the work before it is killed, leaving too little for the next ones.
      const latency = String(round === 0 ? FIRST_MODEL_MS : MODEL_MS);
      host = await spawnHost(app, hostData, { ...env, OFFLINE_LATENCY_MS: latency });
      const pid = host.proc.pid!;
      const t0 = Date.now();
      await waitForHttp(`${host.baseUrl}/runtime/webhooks/durabletask/instances?top=1`);
      if (round === 0) {
        // Load the runs API first (an invalid start answers 400), so the batch starts all at once.
        const warm = await fetch(`${host.baseUrl}/api/v1/runs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ workflowId: 'agent-studio-pipeline', input: {} }),
        });
        expect(warm.status).toBe(400);
        const workflows = Object.keys(WORKFLOW_STEPS);
        await Promise.all(
          Array.from({ length: RUNS_PER_WORKFLOW * workflows.length }, async (_, i) => {
            const workflowId = workflows[i % workflows.length]!;
            const input = {
              topic: `crash topic ${i}`,
              ...(workflowId === 'parallel-analysis' && { aspects: ASPECTS }),
            };
            const res = await fetch(`${host!.baseUrl}/api/v1/runs`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ workflowId, input }),
            });
            const body = (await res.json()) as { id: string };
            if (res.status !== 202)
              throw new Error(`POST /api/v1/runs: ${res.status} ${JSON.stringify(body)}`);
            runs.set(body.id, workflowId);
          }),
        );
      }
      if (round < KILLS) {
        // A random moment while the work goes on: a little after this process committed a few agent
        // call completions, so the next process has committed calls it must not run again. The first
        // process dies once the batch is started, with its first agent calls in flight.
        if (round > 0)
          await untilCommitted(durableDb, committedBefore, 1 + Math.floor(Math.random() * 8), 1500);
        await sleep(Math.floor(Math.random() * 60));
        host.proc.kill('SIGKILL');
        await host.exited;
        killedPids.add(pid);
      } else {
        const deadline = Date.now() + 40_000;
        for (;;) {
          const views = await Promise.all(
            [...runs.keys()].map((id) => getJson<RunView>(`${host!.baseUrl}/api/v1/runs/${id}`)),
          );
          const failed = views.filter((v) => v.status === 'failed' || v.status === 'cancelled');
          if (failed.length) throw new Error(`runs ended badly: ${JSON.stringify(failed, null, 1)}`);
          const instances = await Promise.all(
            [...runs.keys()].map((id) =>
              getJson<{ runtimeStatus: string }>(
                `${host!.baseUrl}/runtime/webhooks/durabletask/instances/${id}`,
              ),
            ),
          );
          if (
            views.every((v) => v.status === 'completed') &&
            instances.every((s) => s.runtimeStatus === 'Completed')
          )
            break;
          if (Date.now() > deadline) {
            const open = views.filter((v) => v.status !== 'completed').map((v) => `${v.id} ${v.status}`);
            throw new Error(`runs not completed in time: ${open.join(', ')}; host output:\n${host.output()}`);
          }
          await sleep(100);
        }
      }

      // Anything this process started that was committed before it started is a re-run.
      const mine = executions(log).filter((e) => e.pid === pid);
      for (const e of mine) {
        const at = committedAt.get(e.key);
        if (e.phase === 'start' && at !== undefined)
          violations.push(
            `${e.key.replace('\t', ' ')} (${e.activity}) ran in pid ${pid} after kill ${at + 1} had committed its completion`,
          );
      }
      if (round < KILLS) {
        committedBefore = completions(durableDb);
        const before = committedAt.size;
        for (const key of committedCalls(durableDb)) if (!committedAt.has(key)) committedAt.set(key, round);
        marks.push(lastEventIds(runsDb));
        const ended = mine.filter((e) => e.phase === 'end').length;
        const inFlight = mine.filter((e) => e.phase === 'start').length - ended;
        kills.push({ inFlight, ended, newlyCommitted: committedAt.size - before, ms: Date.now() - t0 });
      }
    }

    // The final state, through the API.
    const base = host!.baseUrl;
    /** Which host process (1 = the first) appended event `id` of a run, from the marks taken at the kills. */
    const processOf = (runId: string, id: number): number => {
      const k = marks.findIndex((m) => id <= (m.get(runId) ?? 0));
      return (k < 0 ? marks.length : k) + 1;
    };
    const problems: string[] = [];
    const eventsOf = new Map<string, RunEvent[]>();
    /** Agent calls each run made by its record (a group chat step counts its sub-orchestration once). */
    const callsOf = new Map<string, number>();
    for (const [runId, workflowId] of runs) {
      const view = await getJson<RunView>(`${base}/api/v1/runs/${runId}`);
      const expected = WORKFLOW_STEPS[workflowId]!;
      if (view.status !== 'completed') problems.push(`${runId}: status ${view.status}`);
      if (Object.keys(view.steps).sort().join() !== [...expected].sort().join())
        problems.push(`${runId}: steps ${Object.keys(view.steps).join()}, expected ${expected.join()}`);
      for (const [id, s] of Object.entries(view.steps))
        if (s.status !== 'completed') problems.push(`${runId}: step ${id} is ${s.status}`);
      callsOf.set(
        runId,
        Object.values(view.steps).reduce((n, s) => n + s.attempts, 0),
      );

      const events = await allEvents(base, runId);
      eventsOf.set(runId, events);
      const ids = events.map((e) => e.id);
      if (ids.some((id, i) => id !== i + 1))
        problems.push(`${runId}: event ids not gapless from 1: ${ids.join()}`);
      // Progress events are recorded once each: run.started, step.started/completed per step, the end.
      const seen = new Map<string, RunEvent[]>();
      for (const e of events.filter((x) => x.type !== 'step.delta')) {
        const k = `${e.type} ${e.stepId ?? ''}`.trim();
        seen.set(k, [...(seen.get(k) ?? []), e]);
      }
      for (const [k, list] of seen) {
        if (list.length > 1)
          problems.push(
            `${runId} (${workflowId}): '${k}' recorded ${list.length} times: ` +
              list.map((e) => `event ${e.id} by host process ${processOf(runId, e.id)}`).join(', '),
          );
      }
      for (const step of expected)
        if (!seen.has(`step.completed ${step}`)) problems.push(`${runId}: no step.completed for ${step}`);
      const terminal = events.filter((e) => TERMINAL_TYPES.includes(e.type));
      if (terminal.length !== 1 || terminal[0]!.type !== 'run.completed' || terminal[0] !== events.at(-1))
        problems.push(
          `${runId}: terminal events ${terminal.map((e) => `${e.id}:${e.type}`).join()} of ${ids.length}`,
        );
    }

    // Second evidence: deltas of a committed call appended after the kill that committed it.
    const deltaCalls = new Set<string>();
    for (const [runId, events] of eventsOf) {
      for (const e of events) {
        if (e.type !== 'step.delta' || typeof e.data?.call !== 'string') continue;
        const key = keyOf(runId, e.data.call);
        deltaCalls.add(key);
        const at = committedAt.get(key);
        if (at !== undefined && e.id > (marks[at]!.get(runId) ?? 0))
          violations.push(
            `${runId} ${e.data.call}: step.delta ${e.id} appended after kill ${at + 1} had committed the call`,
          );
      }
    }
    await host!.stop();
    host = undefined;

    // Every call ran to its end at least once, and streamed into its run's event log.
    const all = executions(log);
    const perKey = new Map<string, number[]>();
    for (const e of all.filter((x) => x.phase === 'start'))
      perKey.set(e.key, [...(perKey.get(e.key) ?? []), e.pid]);
    const endedKeys = new Set(all.filter((e) => e.phase === 'end').map((e) => e.key));
    for (const key of perKey.keys()) {
      if (!endedKeys.has(key)) problems.push(`${key}: never finished`);
      if (!deltaCalls.has(key)) problems.push(`${key}: no step.delta in the event log`);
    }
    const keysOf = new Map<string, number>();
    for (const key of perKey.keys()) {
      const runId = key.split('\t')[0]!;
      keysOf.set(runId, (keysOf.get(runId) ?? 0) + 1);
    }
    for (const [runId, workflowId] of runs) {
      // A group chat's calls are its turns (3 per round, one round at least).
      const expected = workflowId === 'design-review-chat' ? 3 : callsOf.get(runId)!;
      const ran = keysOf.get(runId) ?? 0;
      if (workflowId === 'design-review-chat' ? ran < expected : ran !== expected)
        problems.push(
          `${runId} (${workflowId}): ${ran} distinct agent calls ran, its record counts ${expected}`,
        );
    }
    for (const [key, pids] of perKey) {
      if (new Set(pids).size !== pids.length)
        violations.push(`${key}: ran twice in one process (${pids.join()})`);
      for (const p of pids.slice(0, -1))
        if (!killedPids.has(p)) violations.push(`${key}: ran again after pid ${p}, which was not killed`);
    }

    const reruns = all.filter((e) => e.phase === 'start').length - perKey.size;
    // Mid-work: agent calls were in flight at the kill, and the killed process had finished some.
    const midWork = kills.filter((k) => k.inFlight > 0 && k.ended > 0).length;
    console.log(
      `workflow crash test: ${runs.size} runs, ${perKey.size} agent calls, ${KILLS} kills (${midWork} mid-work; ` +
        `in flight/ended/newly committed/ms per kill: ${kills.map((k) => `${k.inFlight}/${k.ended}/${k.newlyCommitted}/${k.ms}`).join(' ')}), ` +
        `${reruns} re-runs of calls in flight at a kill, ` +
        `${committedAt.size} calls seen committed, ${Date.now() - started} ms`,
    );
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
    // The test is only meaningful when most kills land in the middle of agent work.
    expect(midWork).toBeGreaterThanOrEqual(KILLS / 2);
    // Kept when the test fails, for a look at the stores and the execution log.
    for (const dir of [data, app]) fs.rmSync(dir, { recursive: true, force: true });
  } finally {
    await host?.stop('SIGKILL');
  }
}, 120_000);
