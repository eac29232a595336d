/** The pure pieces of an orchestrator episode: hidden task numbers, batching, action checks, binding JSON. */
import {
  actionName,
  allocatesHiddenId,
  batchSize,
  checkDeterminism,
  flattenActions,
  orchestrationBindingJson,
  parseFailureState,
  toTimeSpan,
  type RawAction,
} from '../../src/local-host/durable/episode';
import {
  ActionType,
  EventType,
  REPLAY_SCHEMA,
  type HistoryEvent,
  type Op,
} from '../../src/local-host/durable/history';

const NOW = Date.parse('2024-05-01T12:00:00.000Z');
const TS = '2024-05-01T12:00:00.000Z';
const retry = { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 3 };

const ev = (EventType: number, extra: Record<string, unknown> = {}): HistoryEvent => ({
  EventType,
  EventId: -1,
  Timestamp: TS,
  ...extra,
});
const taskCompleted = (id: number): HistoryEvent =>
  ev(EventType.TaskCompleted, { TaskScheduledId: id, Result: '1' });
const taskFailed = (id: number): HistoryEvent =>
  ev(EventType.TaskFailed, { TaskScheduledId: id, Reason: 'boom' });
const timerFired = (id: number): HistoryEvent => ev(EventType.TimerFired, { TimerId: id, FireAt: TS });

function opsOf(...ops: Op[]): Map<number, Op> {
  const m = new Map<number, Op>();
  for (const op of ops) for (const id of op.ids) m.set(id, op);
  return m;
}

describe('allocatesHiddenId', () => {
  test('a failed attempt of a retried activity allocates a hidden number (the retry timer)', () => {
    const ops = opsOf({ t: ActionType.CallActivityWithRetry, n: 'A', ids: [0], retry });
    expect(allocatesHiddenId(ops, taskFailed(0), NOW)).toBe(true);
  });

  test('a failed sub-orchestration with retry allocates a hidden number', () => {
    const ops = opsOf({ t: ActionType.CallSubOrchestratorWithRetry, n: 'Sub', ids: [0], retry });
    expect(
      allocatesHiddenId(ops, ev(EventType.SubOrchestrationInstanceFailed, { TaskScheduledId: 0 }), NOW),
    ).toBe(true);
  });

  test('a failure without a retry policy allocates nothing', () => {
    const ops = opsOf({ t: ActionType.CallActivity, n: 'A', ids: [0] });
    expect(allocatesHiddenId(ops, taskFailed(0), NOW)).toBe(false);
  });

  test('a completion never allocates a hidden number', () => {
    const ops = opsOf({ t: ActionType.CallActivityWithRetry, n: 'A', ids: [0], retry });
    expect(allocatesHiddenId(ops, taskCompleted(0), NOW)).toBe(false);
  });

  test('a fired retry timer with attempts left schedules the next attempt (hidden)', () => {
    const ops = opsOf({ t: ActionType.CallActivityWithRetry, n: 'A', ids: [0, 1], retry, attempt: 2 });
    expect(allocatesHiddenId(ops, timerFired(1), NOW)).toBe(true);
  });

  test('a fired retry timer on the last allowed attempt still schedules it', () => {
    const ops = opsOf({
      t: ActionType.CallActivityWithRetry,
      n: 'A',
      ids: [0, 1, 2, 3, 4],
      retry,
      attempt: 3,
    });
    expect(allocatesHiddenId(ops, timerFired(4), NOW)).toBe(true);
  });

  test('a fired retry timer when attempts are exhausted allocates nothing', () => {
    const ops = opsOf({
      t: ActionType.CallActivityWithRetry,
      n: 'A',
      ids: [0, 1, 2, 3, 4, 5],
      retry,
      attempt: 4,
    });
    expect(allocatesHiddenId(ops, timerFired(5), NOW)).toBe(false);
  });

  test('a long timer segment firing before the final time starts the next segment (hidden)', () => {
    const fireAt = new Date(NOW + 86_400_000).toISOString();
    const ops = opsOf({ t: ActionType.CreateTimer, n: '', ids: [0], fireAt });
    expect(allocatesHiddenId(ops, timerFired(0), NOW)).toBe(true);
  });

  test('the final segment of a timer allocates nothing', () => {
    const ops = opsOf({ t: ActionType.CreateTimer, n: '', ids: [0, 1], fireAt: new Date(NOW).toISOString() });
    expect(allocatesHiddenId(ops, timerFired(1), NOW)).toBe(false);
    const past = opsOf({
      t: ActionType.CreateTimer,
      n: '',
      ids: [0],
      fireAt: new Date(NOW - 1).toISOString(),
    });
    expect(allocatesHiddenId(past, timerFired(0), NOW)).toBe(false);
  });

  test('a timer without a recorded final time allocates nothing', () => {
    const ops = opsOf({ t: ActionType.CreateTimer, n: '', ids: [0] });
    expect(allocatesHiddenId(ops, timerFired(0), NOW)).toBe(false);
  });

  test('an unknown task number allocates nothing', () => {
    const ops = opsOf({ t: ActionType.CallActivityWithRetry, n: 'A', ids: [0], retry });
    expect(allocatesHiddenId(ops, taskFailed(7), NOW)).toBe(false);
  });

  test('an event for an older number of the op (not its latest) allocates nothing', () => {
    const ops = opsOf({ t: ActionType.CallActivityWithRetry, n: 'A', ids: [0, 1, 2], retry, attempt: 2 });
    expect(allocatesHiddenId(ops, taskFailed(0), NOW)).toBe(false);
    expect(allocatesHiddenId(ops, timerFired(1), NOW)).toBe(false);
  });

  test('events without a task or timer id allocate nothing', () => {
    const ops = opsOf({ t: ActionType.CallActivityWithRetry, n: 'A', ids: [0], retry });
    expect(allocatesHiddenId(ops, ev(EventType.EventRaised, { Name: 'go' }), NOW)).toBe(false);
    expect(allocatesHiddenId(ops, ev(EventType.ExecutionStarted), NOW)).toBe(false);
  });
});

describe('batchSize', () => {
  const ops = opsOf(
    { t: ActionType.CallActivity, n: 'A', ids: [0] },
    { t: ActionType.CallActivity, n: 'B', ids: [1] },
    { t: ActionType.CallActivityWithRetry, n: 'C', ids: [2], retry },
  );

  test('takes a whole run of ordinary events', () => {
    expect(
      batchSize(ops, [taskCompleted(0), taskCompleted(1), ev(EventType.EventRaised, { Name: 'x' })], NOW),
    ).toBe(3);
  });

  test('takes nothing from an empty queue', () => {
    expect(batchSize(ops, [], NOW)).toBe(0);
  });

  test('a hidden-allocation event at the front goes alone', () => {
    expect(batchSize(ops, [taskFailed(2), taskCompleted(0), taskCompleted(1)], NOW)).toBe(1);
  });

  test('ordinary events before a hidden-allocation event go without it', () => {
    expect(batchSize(ops, [taskCompleted(0), taskCompleted(1), taskFailed(2), taskCompleted(0)], NOW)).toBe(
      2,
    );
  });

  test('stops at max', () => {
    const many = Array.from({ length: 10 }, () => taskCompleted(0));
    expect(batchSize(ops, many, NOW, 4)).toBe(4);
    expect(
      batchSize(
        ops,
        Array.from({ length: 150 }, () => taskCompleted(0)),
        NOW,
      ),
    ).toBe(100);
  });
});

describe('flattenActions', () => {
  const act = (name: string): RawAction => ({ actionType: ActionType.CallActivity, functionName: name });

  test('returns an empty list for no actions', () => {
    expect(flattenActions(undefined)).toEqual([]);
    expect(flattenActions([])).toEqual([]);
  });

  test('flattens nested WhenAll/WhenAny in order, across groups', () => {
    const a = act('a');
    const b = act('b');
    const c = act('c');
    const d = act('d');
    const nested: RawAction = {
      actionType: ActionType.WhenAll,
      compoundActions: [a, { actionType: ActionType.WhenAny, compoundActions: [b, c] }],
    };
    expect(flattenActions([[nested], [d]])).toEqual([a, b, c, d]);
  });

  test('an action object reused in two compounds counts once', () => {
    const shared = act('shared');
    const other = act('other');
    const any: RawAction = { actionType: ActionType.WhenAny, compoundActions: [shared, other] };
    const all: RawAction = { actionType: ActionType.WhenAll, compoundActions: [shared] };
    const out = flattenActions([[any], [all]]);
    expect(out).toEqual([shared, other]);
    expect(out[0]).toBe(shared);
  });

  test('equal but distinct action objects both count', () => {
    expect(flattenActions([[act('x'), act('x')]])).toHaveLength(2);
  });

  test('a compound without children contributes nothing', () => {
    expect(flattenActions([[{ actionType: ActionType.WhenAll }]])).toEqual([]);
  });
});

describe('actionName', () => {
  test.each<[string, RawAction, string]>([
    ['activity', { actionType: ActionType.CallActivity, functionName: 'Hello' }, 'Hello'],
    ['activity with retry', { actionType: ActionType.CallActivityWithRetry, functionName: 'Hello' }, 'Hello'],
    ['sub-orchestration', { actionType: ActionType.CallSubOrchestrator, functionName: 'Child' }, 'Child'],
    [
      'external event',
      { actionType: ActionType.WaitForExternalEvent, externalEventName: 'Approval' },
      'Approval',
    ],
    [
      'entity call',
      { actionType: ActionType.CallEntity, instanceId: '@counter@k', operation: 'add' },
      '@counter@k/add',
    ],
    [
      'entity signal',
      { actionType: ActionType.SignalEntity, instanceId: '@counter@k', operation: 'reset' },
      '@counter@k/reset',
    ],
    ['timer', { actionType: ActionType.CreateTimer, fireAt: TS }, ''],
    ['continue-as-new', { actionType: ActionType.ContinueAsNew, input: 1 }, ''],
    ['activity without a name', { actionType: ActionType.CallActivity }, ''],
    ['entity call without fields', { actionType: ActionType.CallEntity }, '/'],
  ])('%s', (_label, action, expected) => {
    expect(actionName(action)).toBe(expected);
  });
});

describe('checkDeterminism', () => {
  const recorded: Op[] = [
    { t: ActionType.CallActivity, n: 'A', ids: [0] },
    { t: ActionType.CreateTimer, n: '', ids: [1] },
    { t: ActionType.WaitForExternalEvent, n: 'go', ids: [2] },
  ];
  const replay: RawAction[] = [
    { actionType: ActionType.CallActivity, functionName: 'A' },
    { actionType: ActionType.CreateTimer, fireAt: TS },
    { actionType: ActionType.WaitForExternalEvent, externalEventName: 'go' },
  ];

  test('matching actions are consistent', () => {
    expect(checkDeterminism(recorded, replay, false)).toBeUndefined();
    expect(checkDeterminism(recorded, replay, true)).toBeUndefined();
  });

  test('new actions beyond the recorded ones are fine', () => {
    expect(
      checkDeterminism(
        recorded,
        [...replay, { actionType: ActionType.CallActivity, functionName: 'B' }],
        false,
      ),
    ).toBeUndefined();
  });

  test('a changed function name is reported with both names and the position', () => {
    const msg = checkDeterminism(
      recorded,
      [{ actionType: ActionType.CallActivity, functionName: 'B' }],
      false,
    );
    expect(msg).toContain('Non-deterministic workflow detected');
    expect(msg).toContain("CallActivity 'A' as action #0");
    expect(msg).toContain("current replay scheduled CallActivity 'B'");
  });

  test('a changed action type is reported', () => {
    const msg = checkDeterminism(
      recorded,
      [replay[0]!, { actionType: ActionType.CallActivity, functionName: 'A' }],
      false,
    );
    expect(msg).toContain('scheduled CreateTimer as action #1');
    expect(msg).toContain("current replay scheduled CallActivity 'A'");
  });

  test('an unknown action type is described by number', () => {
    const msg = checkDeterminism(
      [{ t: 42, n: '', ids: [0] }],
      [{ actionType: ActionType.CallActivity, functionName: 'A' }],
      false,
    );
    expect(msg).toContain('action 42 as action #0');
  });

  test('fewer actions while still running is fine (not replayed that far yet)', () => {
    expect(checkDeterminism(recorded, replay.slice(0, 1), false)).toBeUndefined();
  });

  test('fewer actions when done is non-deterministic', () => {
    const msg = checkDeterminism(recorded, replay.slice(0, 2), true);
    expect(msg).toContain("WaitForExternalEvent 'go' as action #2");
    expect(msg).toContain('completed without scheduling it');
  });
});

describe('orchestrationBindingJson', () => {
  const base = {
    instanceId: 'inst-1',
    maximumShortTimerDuration: '6.00:00:00',
    longRunningTimerIntervalDuration: '3.00:00:00',
  };
  const played = [
    JSON.stringify({ ...ev(EventType.OrchestratorStarted), IsPlayed: true }),
    JSON.stringify({ ...ev(EventType.ExecutionStarted, { Name: 'Orch' }), IsPlayed: true }),
  ];

  test('is valid JSON with the recorded history followed by the new events marked not played', () => {
    const json = orchestrationBindingJson({ ...base, history: played, newEvents: [taskCompleted(0)] });
    const o = JSON.parse(json);
    expect(o.history).toHaveLength(3);
    expect(o.history[0].IsPlayed).toBe(true);
    expect(o.history[1]).toMatchObject({ EventType: EventType.ExecutionStarted, IsPlayed: true });
    expect(o.history[2]).toEqual({ ...taskCompleted(0), IsPlayed: false });
    expect(o).toMatchObject({
      instanceId: 'inst-1',
      isReplaying: true,
      upperSchemaVersion: REPLAY_SCHEMA,
      upperSchemaVersionNew: REPLAY_SCHEMA,
      maximumShortTimerDuration: '6.00:00:00',
      longRunningTimerIntervalDuration: '3.00:00:00',
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    });
  });

  test('an IsPlayed true on a new event is overridden to false', () => {
    const o = JSON.parse(
      orchestrationBindingJson({
        ...base,
        history: [],
        newEvents: [{ ...taskCompleted(0), IsPlayed: true }],
      }),
    );
    expect(o.history[0].IsPlayed).toBe(false);
  });

  test('with an empty recorded history it is not replaying and holds only the new events', () => {
    const o = JSON.parse(
      orchestrationBindingJson({
        ...base,
        history: [],
        newEvents: [ev(EventType.OrchestratorStarted), ev(EventType.ExecutionStarted)],
      }),
    );
    expect(o.isReplaying).toBe(false);
    expect(o.history.map((e: HistoryEvent) => e.EventType)).toEqual([
      EventType.OrchestratorStarted,
      EventType.ExecutionStarted,
    ]);
  });

  test('empty history and no new events give an empty array', () => {
    const o = JSON.parse(orchestrationBindingJson({ ...base, history: [], newEvents: [] }));
    expect(o.history).toEqual([]);
  });

  // Bug (latent): episode.ts joins `${history},${fresh}` even when there are no new events, leaving a
  // trailing comma. The runner always passes OrchestratorStarted, so it is not reached today.
  test('recorded history with no new events is still valid JSON', () => {
    const o = JSON.parse(orchestrationBindingJson({ ...base, history: played, newEvents: [] }));
    expect(o.history).toHaveLength(2);
  });

  test('input and parentInstanceId are present when given', () => {
    const o = JSON.parse(
      orchestrationBindingJson({
        ...base,
        history: [],
        newEvents: [],
        inputJson: '{"n":[1,2]}',
        parentInstanceId: 'parent"1',
      }),
    );
    expect(o.input).toEqual({ n: [1, 2] });
    expect(o.parentInstanceId).toBe('parent"1');
  });

  test('input and parentInstanceId are absent when not given', () => {
    const o = JSON.parse(orchestrationBindingJson({ ...base, history: [], newEvents: [] }));
    expect(o).not.toHaveProperty('input');
    expect(o).not.toHaveProperty('parentInstanceId');
  });

  test('a null input is passed as null', () => {
    const o = JSON.parse(
      orchestrationBindingJson({ ...base, history: [], newEvents: [], inputJson: 'null' }),
    );
    expect(o).toHaveProperty('input', null);
  });
});

describe('parseFailureState', () => {
  test('reads the OrchestratorState after the $OutOfProcData$ marker', () => {
    const state = { isDone: false, actions: [[{ actionType: 0, functionName: 'A' }]], error: 'boom' };
    const err = new Error(`Orchestrator function 'X' failed: boom$OutOfProcData$:${JSON.stringify(state)}`);
    expect(parseFailureState(err)).toEqual(state);
  });

  test('is undefined without the marker', () => {
    expect(parseFailureState(new Error('plain failure'))).toBeUndefined();
  });

  test('is undefined when the data after the marker is not JSON', () => {
    expect(parseFailureState(new Error('x $OutOfProcData$:{not json'))).toBeUndefined();
  });
});

describe('toTimeSpan', () => {
  test.each([
    [6 * 86_400_000, '6.00:00:00'],
    [2000, '00:00:02'],
    [250, '00:00:00.250'],
    [0, '00:00:00'],
    [5, '00:00:00.005'],
    [3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6000 + 70, '3.04:05:06.070'],
    [23 * 3_600_000 + 59 * 60_000 + 59_000 + 999, '23:59:59.999'],
  ])('%d ms is %s', (ms, text) => {
    expect(toTimeSpan(ms)).toBe(text);
  });
});
