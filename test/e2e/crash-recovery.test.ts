/**
 * SIGKILLs a child host at random moments while many orchestrations run, restarts it each time, and
 * checks that every instance completes and that no activity whose completion had been committed
 * before a crash ever ran again afterwards (only work in flight at a crash may run twice).
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compiledFixtureApp, spawnHost, waitForHttp } from '../helpers/child-host';
import { tempDir } from '../helpers/durable-harness';

const INSTANCES = 60;
const KILLS = 12;

/** Keys of `work` activities whose TaskCompleted is committed in the store. */
function committedKeys(dbFile: string): Set<string> {
  const db = new Database(dbFile, { readonly: true });
  try {
    const byInstance = new Map<string, { scheduled: Map<number, string>; done: number[] }>();
    for (const row of db
      .prepare('SELECT instance_id, event FROM dt_history ORDER BY instance_id, idx')
      .all() as { instance_id: string; event: string }[]) {
      const e = JSON.parse(row.event) as {
        EventType: number;
        EventId: number;
        Name?: string;
        Input?: string;
        TaskScheduledId?: number;
      };
      const entry = byInstance.get(row.instance_id) ?? {
        scheduled: new Map<number, string>(),
        done: [] as number[],
      };
      byInstance.set(row.instance_id, entry);
      if (e.EventType === 4 && e.Name === 'work')
        entry.scheduled.set(e.EventId, JSON.parse(e.Input!) as string);
      if (e.EventType === 5) entry.done.push(e.TaskScheduledId!);
    }
    const keys = new Set<string>();
    for (const { scheduled, done } of byInstance.values())
      for (const id of done) if (scheduled.has(id)) keys.add(scheduled.get(id)!);
    return keys;
  } finally {
    db.close();
  }
}

function executions(log: string): { key: string; pid: number }[] {
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('work\t'))
    .map((l) => {
      const [, key, pid] = l.split('\t');
      return { key: JSON.parse(key!) as string, pid: Number(pid) };
    });
}

test('every instance completes across random SIGKILLs and committed activities never re-run', async () => {
  const app = compiledFixtureApp('durable-app');
  const data = tempDir('lh-crash-');
  const log = path.join(data, 'executions.log');
  const env = { FIXTURE_EXEC_LOG: log };
  const dbFile = path.join(data, 'local-host.sqlite');
  const violations: string[] = [];
  const killedPids = new Set<number>();
  let committedBefore = new Set<string>();
  let midFlightKills = 0;

  for (let round = 0; round <= KILLS; round++) {
    const host = await spawnHost(app, data, env);
    await waitForHttp(`${host.baseUrl}/runtime/webhooks/durabletask/instances?top=1`);
    if (round === 0) {
      await Promise.all(
        Array.from({ length: INSTANCES }, (_, i) =>
          fetch(`${host.baseUrl}/runtime/webhooks/durabletask/orchestrators/crashWork/crash-${i}`, {
            method: 'POST',
          }).then((r) => r.arrayBuffer()),
        ),
      );
    }
    if (round < KILLS) {
      await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 100)));
      host.proc.kill('SIGKILL');
      await host.exited;
      killedPids.add(host.proc.pid!);
    } else {
      // Final run: let everything finish.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const res = await fetch(
          `${host.baseUrl}/runtime/webhooks/durabletask/instances?instanceIdPrefix=crash-&runtimeStatus=Completed`,
        );
        const list = (await res.json()) as unknown[];
        if (list.length === INSTANCES) break;
        if (Date.now() > deadline)
          throw new Error(`only ${list.length} of ${INSTANCES} completed; host output:\n${host.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      host.proc.kill('SIGTERM');
      await host.exited;
    }
    // Anything this process executed that had been committed before it started is a re-run.
    for (const ex of executions(log)) {
      if (ex.pid === host.proc.pid && committedBefore.has(ex.key))
        violations.push(`${ex.key} re-ran in pid ${ex.pid} after its completion was committed`);
    }
    committedBefore = committedKeys(dbFile);
    if (round < KILLS && committedBefore.size < INSTANCES * 8) midFlightKills++;
  }

  expect(violations).toEqual([]);
  const all = executions(log);
  const perKey = new Map<string, number[]>();
  for (const ex of all) perKey.set(ex.key, [...(perKey.get(ex.key) ?? []), ex.pid]);
  expect(perKey.size).toBe(INSTANCES * 8);
  // Duplicates only come from killed processes, and never twice within one process.
  for (const [key, pids] of perKey) {
    expect(new Set(pids).size).toBe(pids.length);
    for (const pid of pids.slice(0, -1))
      if (!killedPids.has(pid)) throw new Error(`${key} ran twice without a crash in between`);
  }
  const duplicates = all.length - perKey.size;
  console.log(
    `crash test: ${KILLS} kills (${midFlightKills} while work was in flight), ${all.length} executions of ${perKey.size} activities, ${duplicates} re-run after a crash`,
  );
  // The test is only meaningful when most kills land in the middle of the work.
  expect(midFlightKills).toBeGreaterThanOrEqual(KILLS / 2);
}, 180_000);
