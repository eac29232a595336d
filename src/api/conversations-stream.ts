/**
 * POST /api/agents/{name}/run/stream: the turn of POST /api/agents/{name}/run, followed in the event log
 * the reply activity writes for a streamed turn (its deltas, then a final event), as Server-Sent Events.
 */
import { turnLogId } from '../conversations/names';
import { TURN_COMPLETED, TURN_DELTA, TURN_FAILED } from '../conversations/reply';
import type { Submitted } from '../conversations/service';
import { AppError } from '../errors';
import {
  conversationUrl,
  deleted,
  runResponse,
  validateRun,
  type ConversationsApiDeps,
} from './conversations';
import type { ApiResponse } from './http';
import { problem } from './problem';
import { EventTail, SSE_HEADERS } from './sse';

const sse = (id: number, event: string, data: unknown): string =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

const problemOf = (err: AppError): unknown => problem(err.status, err.code, err.message);

/**
 * The events of a streamed turn: `turn`, then `delta`s, then `result` or `error`. Deltas a repeated
 * activity writes again (their offsets go back) are not sent twice. While the turn waits for the ones
 * before it, heartbeats; after `turnTimeoutMs` without an end, an `error` saying it is still pending.
 */
export async function* turnEvents(
  deps: ConversationsApiDeps,
  submitted: Submitted,
): AsyncGenerator<string, void, void> {
  const conversationId = submitted.conversation.id;
  let id = 0;
  yield sse(++id, 'turn', { conversation_id: conversationId, turn_id: submitted.turn.id });
  const tail = new EventTail(deps.events, turnLogId(submitted.turn.id), 0);
  const deadline = Date.now() + deps.turnTimeoutMs;
  let sent = 0;
  try {
    for (;;) {
      const left = deadline - Date.now();
      const e = await tail.next(Math.max(0, Math.min(left, deps.heartbeatMs)));
      if (e?.type === TURN_DELTA) {
        const { offset, delta } = e.data as { offset: number; delta: string };
        const fresh = delta.slice(Math.max(0, sent - offset));
        if (offset <= sent && fresh) {
          sent += fresh.length;
          yield sse(++id, 'delta', { delta: fresh });
        }
      } else if (e?.type === TURN_COMPLETED || e?.type === TURN_FAILED) {
        const turn = await deps.service.status(submitted);
        if (turn.kind === 'done') {
          try {
            yield sse(++id, 'result', runResponse(submitted, turn.turn));
          } catch (err) {
            yield sse(++id, 'error', problemOf(err as AppError));
          }
        } else {
          yield sse(++id, 'error', problemOf(deleted(conversationId)));
        }
        return;
      } else if (!e) {
        if (left <= 0) {
          const err = new AppError(
            'CONVERSATION.TURN_PENDING',
            `The reply did not come within ${deps.turnTimeoutMs} ms; it will show in ${conversationUrl(conversationId)}.`,
            { status: 504 },
          );
          yield sse(++id, 'error', problemOf(err));
          return;
        }
        // The turn may have been dropped with its conversation: then no final event comes.
        if ((await deps.service.status(submitted)).kind === 'gone') {
          yield sse(++id, 'error', problemOf(deleted(conversationId)));
          return;
        }
        yield ': heartbeat\n\n';
      }
    }
  } finally {
    tail.close();
  }
}

/** POST /api/agents/{name}/run/stream */
export async function streamConversation(
  deps: ConversationsApiDeps,
  name: string,
  body: unknown,
): Promise<ApiResponse> {
  const request = await validateRun(deps, name, body);
  const submitted = await deps.service.submit({ agent: request.agentId, ...request, stream: true });
  return {
    status: 200,
    headers: { ...SSE_HEADERS, 'x-conversation-id': submitted.conversation.id },
    stream: turnEvents(deps, submitted),
  };
}
