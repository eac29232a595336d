/** The host's SQLite file: WAL journal, so readers never block the writer and a crash loses no commit. */
import Database from 'better-sqlite3';

export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // WAL + NORMAL: a process crash (even SIGKILL) loses no committed transaction; only an OS crash or
  // power loss could lose the last ones.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}
