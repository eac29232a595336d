/** The JSON shapes of the Durable HTTP API's instance status. */
import { EventType, EventTypeName, type HistoryEvent } from './history';
import type { InstanceRecord } from './store';

export interface StatusOptions {
  showHistory?: boolean;
  showHistoryOutput?: boolean;
  showInput?: boolean;
}

function parse(json: string | undefined): unknown {
  if (json === undefined || json === '') return null;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return json;
  }
}

export function statusJson(
  r: InstanceRecord,
  history: string[] | undefined,
  o: StatusOptions = {},
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: r.name,
    instanceId: r.id,
    runtimeStatus: r.status,
    input: o.showInput === false ? null : parse(r.input),
    customStatus: parse(r.customStatus),
    output: parse(r.output),
    createdTime: r.createdTime,
    lastUpdatedTime: r.lastUpdatedTime,
  };
  if (o.showHistory && history) {
    const events = history.map((h) => JSON.parse(h) as HistoryEvent);
    // `historyEvents` is the extension's summarised form; `history` carries the raw events, which is
    // what the JavaScript DurableClient exposes as `DurableOrchestrationStatus.history`.
    body.historyEvents = summarise(events, o.showHistoryOutput === true);
    body.history = events;
  }
  return body;
}

/** The extension's readable history: scheduling events folded into their completions. */
function summarise(events: HistoryEvent[], withOutput: boolean): Record<string, unknown>[] {
  const scheduled = new Map<number, HistoryEvent>();
  const out: Record<string, unknown>[] = [];
  for (const e of events) {
    switch (e.EventType) {
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
        scheduled.set(e.EventId, e);
        break;
      case EventType.OrchestratorStarted:
      case EventType.OrchestratorCompleted:
      case EventType.TimerCreated:
        break;
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed: {
        const s = scheduled.get(e.TaskScheduledId as number);
        out.push({
          EventType: EventTypeName[e.EventType],
          FunctionName: s?.Name,
          ScheduledTime: s?.Timestamp,
          Timestamp: e.Timestamp,
          ...(withOutput && e.Result !== undefined ? { Result: parse(e.Result as string) } : {}),
          ...(e.Reason !== undefined ? { Reason: e.Reason } : {}),
        });
        break;
      }
      default:
        out.push({
          EventType: EventTypeName[e.EventType] ?? String(e.EventType),
          Timestamp: e.Timestamp,
          ...(e.Name !== undefined ? { Name: e.Name, FunctionName: e.Name } : {}),
          ...(e.FireAt !== undefined ? { FireAt: e.FireAt } : {}),
          ...(e.OrchestrationStatus !== undefined ? { OrchestrationStatus: e.OrchestrationStatus } : {}),
          ...(withOutput && e.Result !== undefined ? { Result: parse(e.Result as string) } : {}),
        });
    }
  }
  return out;
}
