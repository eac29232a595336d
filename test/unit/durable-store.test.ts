/** DurableStore on a real SQLite file: group commit, instances, history, work queues, purge, reopen. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../src/local-host/database';
import { ActionType } from '../../src/local-host/durable/history';
import { DurableStore, type InstanceRecord } from '../../src/local-host/durable/store';

let dir: string;
let file: string;
let db: Database.Database;
let store: DurableStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lh-durable-store-'));
  file = path.join(dir, 'store.sqlite');
  db = openDatabase(file);
  store = new DurableStore(db);
});

afterEach(() => {
  store.onError = () => undefined; // a flush still scheduled must not throw on the closed file
  if (db.open) db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function reopen(): void {
  store.flush();
  db.close();
  db = openDatabase(file);
  store = new DurableStore(db);
}

const instance = (id: string, extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
  id,
  name: 'Orch',
  executionId: `exec-${id}`,
  status: 'Running',
  input: undefined,
  output: undefined,
  customStatus: undefined,
  createdTime: '2024-01-01T00:00:00.000Z',
  lastUpdatedTime: '2024-01-01T00:00:00.000Z',
  parent: undefined,
  nextId: 0,
  ops: [],
  ...extra,
});

describe('group commit', () => {
  test('queued writes are invisible until flush, then all visible', () => {
    store.saveInstance(instance('a'));
    store.appendHistory('a', 0, ['{"EventType":12}']);
    expect(store.pendingWrites).toBe(2);
    expect(store.loadInstance('a')).toBeUndefined();
    expect(store.instanceExists('a')).toBe(false);
    expect(store.loadHistory('a')).toEqual([]);
    store.flush();
    expect(store.pendingWrites).toBe(0);
    expect(store.instanceExists('a')).toBe(true);
    expect(store.loadHistory('a')).toEqual(['{"EventType":12}']);
  });

  test('writes are flushed automatically on the next event-loop turn', async () => {
    store.saveInstance(instance('auto'));
    expect(store.loadInstance('auto')).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(store.loadInstance('auto')?.id).toBe('auto');
  });

  test('afterFlush callbacks run after the transaction commits, in order', () => {
    const seen: string[] = [];
    store.saveInstance(instance('x'));
    store.afterFlush(() => seen.push(`first:${String(store.instanceExists('x'))}`));
    store.afterFlush(() => seen.push('second'));
    expect(seen).toEqual([]);
    store.flush();
    expect(seen).toEqual(['first:true', 'second']);
  });

  test('committed() resolves once earlier writes are committed', async () => {
    store.saveInstance(instance('c'));
    await store.committed();
    expect(store.loadInstance('c')).toBeDefined();
    expect(store.pendingWrites).toBe(0);
  });

  test('committed() resolves even with nothing queued', async () => {
    await expect(store.committed()).resolves.toBeUndefined();
  });

  test('a failing flush rolls back the whole batch and reports to onError', async () => {
    const errors: Error[] = [];
    store.onError = (e) => errors.push(e);
    store.saveInstance(instance('ok'));
    // NOT NULL violation: name is required.
    store.saveInstance(instance('bad', { name: null as unknown as string }));
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
    expect(store.loadInstance('ok')).toBeUndefined();
  });
});

describe('instances', () => {
  test('save and load round-trip every field', () => {
    const r = instance('full', {
      status: 'Completed',
      input: '{"a":1}',
      output: '"done"',
      customStatus: '{"step":2}',
      parent: { id: 'p', executionId: 'pe', taskId: 3 },
      nextId: 4,
      ops: [
        {
          t: ActionType.CallActivity,
          n: 'A',
          ids: [0, 1],
          retry: { firstRetryIntervalInMilliseconds: 5, maxNumberOfAttempts: 2 },
        },
      ],
    });
    store.saveInstance(r);
    store.flush();
    expect(store.loadInstance('full')).toEqual(r);
  });

  test('undefined optional fields load as undefined', () => {
    store.saveInstance(instance('bare'));
    store.flush();
    const r = store.loadInstance('bare')!;
    expect(r.input).toBeUndefined();
    expect(r.output).toBeUndefined();
    expect(r.customStatus).toBeUndefined();
    expect(r.parent).toBeUndefined();
  });

  test('saving again updates the row', () => {
    store.saveInstance(instance('u'));
    store.saveInstance(instance('u', { status: 'Failed', output: '"x"', nextId: 9 }));
    store.flush();
    expect(store.loadInstance('u')).toMatchObject({ status: 'Failed', output: '"x"', nextId: 9 });
  });

  test('loadLiveInstances skips terminal statuses', () => {
    for (const [id, status] of [
      ['p', 'Pending'],
      ['r', 'Running'],
      ['s', 'Suspended'],
      ['c', 'Completed'],
      ['f', 'Failed'],
      ['t', 'Terminated'],
      ['x', 'Canceled'],
    ] as const) {
      store.saveInstance(instance(id, { status }));
    }
    store.flush();
    expect(
      store
        .loadLiveInstances()
        .map((r) => r.id)
        .sort(),
    ).toEqual(['p', 'r', 's']);
  });
});

describe('queryInstances', () => {
  beforeEach(() => {
    const rows: [string, InstanceRecord['status'], string][] = [
      ['job-1', 'Running', '2024-01-01T00:00:01.000Z'],
      ['job-2', 'Completed', '2024-01-01T00:00:02.000Z'],
      ['job-3', 'Failed', '2024-01-01T00:00:03.000Z'],
      ['other-1', 'Completed', '2024-01-01T00:00:02.000Z'],
      ['other-2', 'Running', '2024-01-01T00:00:04.000Z'],
    ];
    for (const [id, status, createdTime] of rows) store.saveInstance(instance(id, { status, createdTime }));
    store.flush();
  });
  const ids = (rs: InstanceRecord[]): string[] => rs.map((r) => r.id);

  test('no filter returns everything ordered by created time, then id', () => {
    expect(ids(store.queryInstances({}))).toEqual(['job-1', 'job-2', 'other-1', 'job-3', 'other-2']);
  });

  test('filters by runtime status', () => {
    expect(ids(store.queryInstances({ runtimeStatus: ['Completed', 'Failed'] }))).toEqual([
      'job-2',
      'other-1',
      'job-3',
    ]);
    expect(ids(store.queryInstances({ runtimeStatus: [] }))).toHaveLength(5);
  });

  test('filters by created time range (inclusive)', () => {
    expect(
      ids(
        store.queryInstances({
          createdTimeFrom: '2024-01-01T00:00:02.000Z',
          createdTimeTo: '2024-01-01T00:00:03.000Z',
        }),
      ),
    ).toEqual(['job-2', 'other-1', 'job-3']);
  });

  test('filters by instance id prefix', () => {
    expect(ids(store.queryInstances({ instanceIdPrefix: 'other-' }))).toEqual(['other-1', 'other-2']);
    expect(ids(store.queryInstances({ instanceIdPrefix: 'nope' }))).toEqual([]);
  });

  test('combines filters', () => {
    expect(ids(store.queryInstances({ instanceIdPrefix: 'job-', runtimeStatus: ['Running'] }))).toEqual([
      'job-1',
    ]);
  });

  test('pages with top and after, including rows that share a created time', () => {
    const seen: string[] = [];
    let after: { createdTime: string; id: string } | undefined;
    for (;;) {
      const page = store.queryInstances({ top: 2, after });
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...ids(page));
      const last = page[page.length - 1]!;
      after = { createdTime: last.createdTime, id: last.id };
    }
    expect(seen).toEqual(['job-1', 'job-2', 'other-1', 'job-3', 'other-2']);
  });
});

describe('history', () => {
  test('append keeps order by index; appending at an index replaces it', () => {
    store.appendHistory('h', 0, ['e0', 'e1']);
    store.appendHistory('h', 2, ['e2']);
    store.appendHistory('h', 1, ['E1']);
    store.flush();
    expect(store.loadHistory('h')).toEqual(['e0', 'E1', 'e2']);
  });

  test('reset clears only that instance', () => {
    store.appendHistory('h1', 0, ['a']);
    store.appendHistory('h2', 0, ['b']);
    store.resetHistory('h1');
    store.appendHistory('h1', 0, ['new']);
    store.flush();
    expect(store.loadHistory('h1')).toEqual(['new']);
    expect(store.loadHistory('h2')).toEqual(['b']);
  });
});

describe('work queues', () => {
  test('inbox rows load in seq order and can be removed', () => {
    const a = store.addInbox('i1', 'ev-a');
    const b = store.addInbox('i2', 'ev-b');
    const c = store.addInbox('i1', 'ev-c');
    expect(a.seq).toBeLessThan(b.seq);
    expect(b.seq).toBeLessThan(c.seq);
    store.removeInbox(b.seq);
    store.flush();
    expect(store.loadInbox()).toEqual([a, c]);
  });

  test('activities load in seq order with their fields and can be removed', () => {
    const a1 = store.addActivity({ instanceId: 'i', executionId: 'e', taskId: 0, name: 'A', input: '1' });
    const a2 = store.addActivity({
      instanceId: 'i',
      executionId: 'e',
      taskId: 1,
      name: 'B',
      input: undefined,
    });
    const a3 = store.addActivity({ instanceId: 'j', executionId: 'f', taskId: 0, name: 'C', input: '"x"' });
    store.removeActivity(a1.seq);
    store.flush();
    expect(store.loadActivities()).toEqual([a2, a3]);
    expect(store.loadActivities()[0]!.input).toBeUndefined();
  });

  test('timers are keyed by instance, execution and timer id', () => {
    store.addTimer({ instanceId: 'i', executionId: 'e', timerId: 0, fireAt: '2024-01-01T00:00:00.000Z' });
    store.addTimer({ instanceId: 'i', executionId: 'e', timerId: 1, fireAt: '2024-01-02T00:00:00.000Z' });
    // Same key: replaced, not duplicated.
    store.addTimer({ instanceId: 'i', executionId: 'e', timerId: 1, fireAt: '2024-01-03T00:00:00.000Z' });
    store.addTimer({ instanceId: 'i', executionId: 'other', timerId: 0, fireAt: '2024-01-04T00:00:00.000Z' });
    store.removeTimer({ instanceId: 'i', executionId: 'e', timerId: 0 });
    store.flush();
    const timers = store.loadTimers().sort((x, y) => x.fireAt.localeCompare(y.fireAt));
    expect(timers).toEqual([
      { instanceId: 'i', executionId: 'e', timerId: 1, fireAt: '2024-01-03T00:00:00.000Z' },
      { instanceId: 'i', executionId: 'other', timerId: 0, fireAt: '2024-01-04T00:00:00.000Z' },
    ]);
  });

  test('clearWork drops the timers and activities of one instance only', () => {
    store.addTimer({ instanceId: 'i', executionId: 'e', timerId: 0, fireAt: 'x' });
    store.addTimer({ instanceId: 'j', executionId: 'e', timerId: 0, fireAt: 'x' });
    store.addActivity({ instanceId: 'i', executionId: 'e', taskId: 0, name: 'A', input: undefined });
    const keep = store.addActivity({
      instanceId: 'j',
      executionId: 'e',
      taskId: 0,
      name: 'A',
      input: undefined,
    });
    const inbox = store.addInbox('i', 'ev');
    store.clearWork('i');
    store.flush();
    expect(store.loadTimers().map((t) => t.instanceId)).toEqual(['j']);
    expect(store.loadActivities()).toEqual([keep]);
    expect(store.loadInbox()).toEqual([inbox]);
  });

  test('entity requests load in seq order and can be removed', () => {
    const r1 = store.addEntityRequest('@c@1', 'op1');
    const r2 = store.addEntityRequest('@c@2', 'op2');
    const r3 = store.addEntityRequest('@c@1', 'op3');
    store.removeEntityRequest(r2.seq);
    store.flush();
    expect(store.loadEntityQueue()).toEqual([r1, r3]);
  });

  test('seq numbers are shared across inbox, activities and entity queue', () => {
    const a = store.addInbox('i', 'e').seq;
    const b = store.addActivity({
      instanceId: 'i',
      executionId: 'e',
      taskId: 0,
      name: 'A',
      input: undefined,
    }).seq;
    const c = store.addEntityRequest('@c@1', 'r').seq;
    expect([b - a, c - b]).toEqual([1, 1]);
  });
});

describe('entities', () => {
  test('save, load and update an entity', () => {
    store.saveEntity({ id: '@counter@a', exists: true, state: '5', lastModified: 't1' });
    store.flush();
    expect(store.loadEntity('@counter@a')).toEqual({
      id: '@counter@a',
      exists: true,
      state: '5',
      lastModified: 't1',
    });
    store.saveEntity({ id: '@counter@a', exists: false, state: undefined, lastModified: 't2' });
    store.flush();
    expect(store.loadEntity('@counter@a')).toEqual({
      id: '@counter@a',
      exists: false,
      state: undefined,
      lastModified: 't2',
    });
    expect(store.loadEntity('@counter@missing')).toBeUndefined();
  });

  test('queryEntities returns existing entities with the prefix, ordered and limited', () => {
    store.saveEntity({ id: '@counter@b', exists: true, state: '1', lastModified: 't' });
    store.saveEntity({ id: '@counter@a', exists: true, state: '1', lastModified: 't' });
    store.saveEntity({ id: '@counter@c', exists: false, state: undefined, lastModified: 't' });
    store.saveEntity({ id: '@counter@d', exists: true, state: '1', lastModified: 't' });
    store.saveEntity({ id: '@other@a', exists: true, state: '1', lastModified: 't' });
    store.flush();
    expect(store.queryEntities('@counter@', 10).map((e) => e.id)).toEqual([
      '@counter@a',
      '@counter@b',
      '@counter@d',
    ]);
    expect(store.queryEntities('@counter@', 2).map((e) => e.id)).toEqual(['@counter@a', '@counter@b']);
  });
});

describe('purge', () => {
  test('removes the instance, its history, inbox, timers and activities, and nothing of others', () => {
    for (const id of ['gone', 'kept']) {
      store.saveInstance(instance(id));
      store.appendHistory(id, 0, [`h-${id}`]);
      store.addInbox(id, `in-${id}`);
      store.addTimer({ instanceId: id, executionId: 'e', timerId: 0, fireAt: 'x' });
      store.addActivity({ instanceId: id, executionId: 'e', taskId: 0, name: 'A', input: undefined });
    }
    store.flush();
    store.purge('gone');
    store.flush();
    expect(store.loadInstance('gone')).toBeUndefined();
    expect(store.loadHistory('gone')).toEqual([]);
    expect(store.loadInstance('kept')).toBeDefined();
    expect(store.loadHistory('kept')).toEqual(['h-kept']);
    expect(store.loadInbox().map((r) => r.instanceId)).toEqual(['kept']);
    expect(store.loadTimers().map((r) => r.instanceId)).toEqual(['kept']);
    expect(store.loadActivities().map((r) => r.instanceId)).toEqual(['kept']);
  });
});

describe('reopening the same file', () => {
  test('restores everything that was committed', () => {
    const rec = instance('r', {
      ops: [{ t: ActionType.CreateTimer, n: '', ids: [0], fireAt: '2030-01-01T00:00:00.000Z' }],
      nextId: 1,
    });
    store.saveInstance(rec);
    store.appendHistory('r', 0, ['h0', 'h1']);
    const inbox = store.addInbox('r', 'ev');
    const act = store.addActivity({ instanceId: 'r', executionId: 'e', taskId: 0, name: 'A', input: '1' });
    store.addTimer({ instanceId: 'r', executionId: 'e', timerId: 0, fireAt: '2030-01-01T00:00:00.000Z' });
    store.saveEntity({ id: '@c@k', exists: true, state: '3', lastModified: 't' });
    const req = store.addEntityRequest('@c@k', 'req');
    reopen();
    expect(store.loadInstance('r')).toEqual(rec);
    expect(store.loadHistory('r')).toEqual(['h0', 'h1']);
    expect(store.loadInbox()).toEqual([inbox]);
    expect(store.loadActivities()).toEqual([act]);
    expect(store.loadTimers()).toHaveLength(1);
    expect(store.loadEntity('@c@k')?.state).toBe('3');
    expect(store.loadEntityQueue()).toEqual([req]);
  });

  test('writes never flushed before closing are lost', async () => {
    store.saveInstance(instance('lost'));
    const flushErrors: Error[] = [];
    store.onError = (e) => flushErrors.push(e);
    db.close();
    db = openDatabase(file);
    store = new DurableStore(db);
    expect(store.loadInstance('lost')).toBeUndefined();
    // The old store's scheduled flush then fails and reports it instead of writing.
    await new Promise((r) => setImmediate(r));
    expect(flushErrors[0]?.message).toMatch(/not open/);
  });

  test('nextSeq continues above the highest existing seq of any queue', () => {
    store.addInbox('i', 'a');
    store.addEntityRequest('@c@k', 'r');
    const top = store.addActivity({
      instanceId: 'i',
      executionId: 'e',
      taskId: 0,
      name: 'A',
      input: undefined,
    }).seq;
    reopen();
    const next = store.addInbox('i', 'c');
    expect(next.seq).toBe(top + 1);
    store.flush();
    expect(store.loadInbox().map((r) => r.seq)).toEqual([top - 2, top + 1]);
  });

  test('nextSeq counts entity-queue rows even when other queues are empty', () => {
    store.addEntityRequest('@c@k', 'r1');
    const r2 = store.addEntityRequest('@c@k', 'r2');
    reopen();
    expect(store.nextSeq()).toBe(r2.seq + 1);
  });
});

describe('close', () => {
  it('commits what is queued, then drops later writes and refuses to acknowledge them', async () => {
    store.saveInstance(instance('before'));
    store.close();
    store.saveInstance(instance('after'));
    const acknowledged = jest.fn();
    store.afterFlush(acknowledged);
    await expect(store.committed()).rejects.toThrow('The durable task hub has stopped');
    store.close(); // idempotent
    await new Promise((r) => setImmediate(r));
    db.close(); // nothing left to flush on the closed file
    db = openDatabase(file);
    store = new DurableStore(db);
    expect(store.loadInstance('before')).toBeDefined();
    expect(store.loadInstance('after')).toBeUndefined();
    expect(acknowledged).not.toHaveBeenCalled();
  });
});
