/** statusJson: the Durable HTTP API's instance status, with and without history. */
import { EventType, type HistoryEvent } from '../../src/local-host/durable/history';
import { statusJson } from '../../src/local-host/durable/status';
import type { InstanceRecord } from '../../src/local-host/durable/store';

const record = (extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
  id: 'inst-1',
  name: 'HelloOrchestrator',
  executionId: 'exec',
  status: 'Completed',
  input: '{"city":"Oslo"}',
  output: '["Hello Oslo"]',
  customStatus: '"step 2"',
  createdTime: '2024-01-01T00:00:00.000Z',
  lastUpdatedTime: '2024-01-01T00:00:05.000Z',
  parent: undefined,
  nextId: 2,
  ops: [],
  ...extra,
});

const e = (EventType: number, Timestamp: string, extra: Record<string, unknown> = {}): HistoryEvent => ({
  EventType,
  EventId: -1,
  Timestamp,
  IsPlayed: true,
  ...extra,
});

const history: HistoryEvent[] = [
  e(EventType.OrchestratorStarted, 't0'),
  e(EventType.ExecutionStarted, 't0', { Name: 'HelloOrchestrator', Input: '{"city":"Oslo"}' }),
  e(EventType.TaskScheduled, 't1', { EventId: 0, Name: 'SayHello', Input: '"Oslo"' }),
  e(EventType.SubOrchestrationInstanceCreated, 't1', { EventId: 1, Name: 'Child', InstanceId: 'child-1' }),
  e(EventType.TimerCreated, 't1', { EventId: 2, FireAt: 't9' }),
  e(EventType.OrchestratorCompleted, 't1'),
  e(EventType.OrchestratorStarted, 't2'),
  e(EventType.TaskCompleted, 't2', { TaskScheduledId: 0, Result: '"Hello Oslo"' }),
  e(EventType.SubOrchestrationInstanceFailed, 't2', { TaskScheduledId: 1, Reason: 'child broke' }),
  e(EventType.TimerFired, 't3', { TimerId: 2, FireAt: 't9' }),
  e(EventType.EventRaised, 't3', { Name: 'Approval', Input: 'true' }),
  e(EventType.ExecutionCompleted, 't4', { OrchestrationStatus: 'Completed', Result: '["Hello Oslo"]' }),
  e(EventType.OrchestratorCompleted, 't4'),
];
const raw = history.map((h) => JSON.stringify(h));

describe('statusJson', () => {
  test('has the status fields with JSON values parsed', () => {
    expect(statusJson(record(), undefined)).toEqual({
      name: 'HelloOrchestrator',
      instanceId: 'inst-1',
      runtimeStatus: 'Completed',
      input: { city: 'Oslo' },
      customStatus: 'step 2',
      output: ['Hello Oslo'],
      createdTime: '2024-01-01T00:00:00.000Z',
      lastUpdatedTime: '2024-01-01T00:00:05.000Z',
    });
  });

  test('missing or empty values are null; text that is not JSON is returned as is', () => {
    const body = statusJson(record({ input: undefined, customStatus: '', output: 'not json' }), undefined);
    expect(body.input).toBeNull();
    expect(body.customStatus).toBeNull();
    expect(body.output).toBe('not json');
  });

  test('showInput=false hides the input; other values remain', () => {
    const body = statusJson(record(), undefined, { showInput: false });
    expect(body.input).toBeNull();
    expect(body.output).toEqual(['Hello Oslo']);
    expect(statusJson(record(), undefined, { showInput: true }).input).toEqual({ city: 'Oslo' });
  });

  test('history is left out unless showHistory is set and a history is given', () => {
    expect(statusJson(record(), raw)).not.toHaveProperty('historyEvents');
    expect(statusJson(record(), raw, { showHistoryOutput: true })).not.toHaveProperty('history');
    expect(statusJson(record(), undefined, { showHistory: true })).not.toHaveProperty('historyEvents');
  });

  test('raw history events are included as parsed objects', () => {
    const body = statusJson(record(), raw, { showHistory: true });
    expect(body.history).toEqual(history);
  });

  test('summarised history folds scheduling into completions and drops episode markers', () => {
    const events = statusJson(record(), raw, { showHistory: true }).historyEvents as Record<
      string,
      unknown
    >[];
    expect(events.map((x) => x.EventType)).toEqual([
      'ExecutionStarted',
      'TaskCompleted',
      'SubOrchestrationInstanceFailed',
      'TimerFired',
      'EventRaised',
      'ExecutionCompleted',
    ]);
    expect(events[1]).toEqual({
      EventType: 'TaskCompleted',
      FunctionName: 'SayHello',
      ScheduledTime: 't1',
      Timestamp: 't2',
    });
    expect(events[2]).toEqual({
      EventType: 'SubOrchestrationInstanceFailed',
      FunctionName: 'Child',
      ScheduledTime: 't1',
      Timestamp: 't2',
      Reason: 'child broke',
    });
    expect(events[0]).toEqual({
      EventType: 'ExecutionStarted',
      Timestamp: 't0',
      Name: 'HelloOrchestrator',
      FunctionName: 'HelloOrchestrator',
    });
    expect(events[3]).toEqual({ EventType: 'TimerFired', Timestamp: 't3', FireAt: 't9' });
    expect(events[4]).toEqual({
      EventType: 'EventRaised',
      Timestamp: 't3',
      Name: 'Approval',
      FunctionName: 'Approval',
    });
    expect(events[5]).toEqual({
      EventType: 'ExecutionCompleted',
      Timestamp: 't4',
      OrchestrationStatus: 'Completed',
    });
  });

  test('results appear only with showHistoryOutput', () => {
    const events = statusJson(record(), raw, { showHistory: true, showHistoryOutput: true })
      .historyEvents as Record<string, unknown>[];
    const completed = events.find((x) => x.EventType === 'TaskCompleted');
    expect(completed).toMatchObject({ FunctionName: 'SayHello', Result: 'Hello Oslo' });
    expect(events.find((x) => x.EventType === 'ExecutionCompleted')).toMatchObject({
      Result: ['Hello Oslo'],
    });
  });

  test('a completion whose scheduling event is missing has no FunctionName or ScheduledTime', () => {
    const only = [JSON.stringify(e(EventType.TaskCompleted, 't5', { TaskScheduledId: 42, Result: '1' }))];
    const [ev] = statusJson(record(), only, { showHistory: true }).historyEvents as Record<string, unknown>[];
    expect(ev).toEqual({
      EventType: 'TaskCompleted',
      FunctionName: undefined,
      ScheduledTime: undefined,
      Timestamp: 't5',
    });
  });

  test('an unknown event type is shown by number', () => {
    const only = [JSON.stringify(e(99, 't6'))];
    const [ev] = statusJson(record(), only, { showHistory: true }).historyEvents as Record<string, unknown>[];
    expect(ev).toEqual({ EventType: '99', Timestamp: 't6' });
  });
});
