/**
 * The schedule monitor of timer triggers: each function's schedule status (Last, Next, LastUpdated)
 * in SQLite (table `timer_status`), and the host's past-due check on start-up.
 */
import type Database from 'better-sqlite3';
import type { Schedule } from './ncrontab';

/** Epoch milliseconds; `last`/`lastUpdated` are null until known (the host's `default(DateTime)`). */
export interface ScheduleStatus {
  last: number | null;
  next: number;
  lastUpdated: number | null;
}

interface StatusRow {
  last: number | null;
  next: number;
  last_updated: number | null;
}

export class ScheduleStatusStore {
  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS timer_status (
      function_name TEXT PRIMARY KEY COLLATE NOCASE,
      last INTEGER,
      next INTEGER NOT NULL,
      last_updated INTEGER
    )`);
  }

  get(name: string): ScheduleStatus | undefined {
    const row = this.db
      .prepare('SELECT last, next, last_updated FROM timer_status WHERE function_name = ?')
      .get(name) as StatusRow | undefined;
    return row && { last: row.last, next: row.next, lastUpdated: row.last_updated };
  }

  set(name: string, status: ScheduleStatus): void {
    this.db
      .prepare(
        `INSERT INTO timer_status (function_name, last, next, last_updated) VALUES (?, ?, ?, ?)
         ON CONFLICT (function_name) DO UPDATE SET last = excluded.last, next = excluded.next,
           last_updated = excluded.last_updated`,
      )
      .run(name, status.last, status.next, status.lastUpdated);
  }

  /**
   * The recorded status, initialised or adjusted to the current schedule the way the host's
   * `ScheduleMonitor.CheckPastDueAsync` does, and whether an occurrence was missed (`now` is after
   * the recorded next occurrence).
   */
  checkPastDue(name: string, schedule: Schedule, now: number): { status: ScheduleStatus; pastDue: boolean } {
    const next = (from: number): number => schedule.next(new Date(from)).getTime();
    let status = this.get(name);
    if (!status) {
      status = { last: null, next: next(now), lastUpdated: now };
      this.set(name, status);
      return { status, pastDue: false };
    }
    // The time the recorded Next was computed from; if the schedule changed since, Next differs.
    let basis = status.last ?? status.lastUpdated ?? now;
    let expected = next(basis);
    if (status.next !== expected) {
      if (now > expected) {
        // Do not report a changed schedule as past due.
        basis = now;
        expected = next(now);
      }
      status = { last: null, next: expected, lastUpdated: basis };
      this.set(name, status);
    }
    return { status, pastDue: now > status.next };
  }
}
