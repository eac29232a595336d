/**
 * A small HTTP API over the embedded broker (mounted at `/admin/servicebus/`), to try Service Bus
 * triggers with curl and drive them from tests:
 *
 *   POST /admin/servicebus/queues/{queue}/messages            send (body = message body; `?batch=true`
 *   POST /admin/servicebus/topics/{topic}/messages              with a JSON array sends one message per item)
 *   GET  /admin/servicebus/queues/{queue}/messages?peek=N      peek active/scheduled/locked messages
 *   GET  /admin/servicebus/queues/{queue}/deadletter?peek=N    peek the dead-letter queue
 *   GET  /admin/servicebus/topics/{t}/subscriptions/{s}/messages|deadletter?peek=N
 *   GET  /admin/servicebus/entities                            message counts per entity
 *
 * Message properties come from headers: content-type, x-ms-message-id, x-ms-correlation-id,
 * x-ms-session-id, x-ms-subject, x-ms-reply-to, x-ms-to, x-ms-time-to-live (ms or hh:mm:ss),
 * x-ms-scheduled-enqueue-time (ISO date) and x-ms-application-properties (a JSON object).
 */
import type * as http from 'node:http';
import { STATUS_CODES } from 'node:http';
import { parseTimeSpan } from '../host-json';
import type { RawHttpHandler } from '../context';
import type { ServiceBusBroker } from './broker';
import { messageToJson, valuesToMessages } from './convert';
import { ServiceBusError, type SendMessage } from './types';

const MAX_BODY = 4 * 1024 * 1024;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export function createAdminApi(broker: ServiceBusBroker): RawHttpHandler {
  return async (req, res, url) => {
    try {
      await route(broker, req, res, url);
    } catch (err) {
      const problem = toProblem(err);
      const status = problem.status;
      res.writeHead(status, { 'content-type': 'application/problem+json', ...problem.headers });
      res.end(
        JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status], status, detail: problem.message }),
      );
    }
  };
}

async function route(
  broker: ServiceBusBroker,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
) {
  const rest = url.pathname.replace(/^.*?\/admin\/servicebus\/?/i, '').replace(/\/+$/, '');
  const method = req.method ?? 'GET';
  const only = (allowed: string): void => {
    if (method !== allowed)
      throw new HttpProblem(405, `Use ${allowed} for this resource.`, { allow: allowed });
  };
  let m: RegExpExecArray | null;
  if (rest === 'entities') {
    only('GET');
    return sendJson(res, 200, { entities: broker.counts() });
  }
  if ((m = /^topics\/(.+)\/subscriptions\/([^/]+)\/(messages|deadletter)$/.exec(rest))) {
    only('GET');
    return peek(broker, res, `${decode(m[1]!)}/Subscriptions/${decode(m[2]!)}`, m[3] === 'deadletter', url);
  }
  if ((m = /^topics\/(.+)\/messages$/.exec(rest))) {
    only('POST');
    return send(broker, req, res, url, decode(m[1]!), 'topic');
  }
  if ((m = /^queues\/(.+)\/messages$/.exec(rest)) && method === 'POST') {
    return send(broker, req, res, url, decode(m[1]!), 'queue');
  }
  if ((m = /^queues\/(.+)\/(messages|deadletter)$/.exec(rest))) {
    if (method !== 'GET') {
      throw new HttpProblem(405, 'Use GET (or POST to send) for this resource.', {
        allow: m[2] === 'messages' ? 'GET, POST' : 'GET',
      });
    }
    return peek(broker, res, decode(m[1]!), m[2] === 'deadletter', url);
  }
  throw new HttpProblem(404, `No Service Bus admin route for ${method} ${url.pathname}.`);
}

async function send(
  broker: ServiceBusBroker,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  name: string,
  kind: 'queue' | 'topic',
): Promise<void> {
  const body = await readBody(req);
  if (kind === 'queue') broker.ensureQueue(name);
  else broker.ensureTopic(name);
  const batch = url.searchParams.get('batch') === 'true';
  const sent = broker.send(name, buildMessages(req, body, batch));
  sendJson(res, 201, batch ? { messages: sent } : sent[0]);
}

function peek(
  broker: ServiceBusBroker,
  res: http.ServerResponse,
  entity: string,
  deadLetter: boolean,
  url: URL,
): void {
  const count = intParam(url, 'peek', 32, 1, 1000);
  const from = intParam(url, 'from', 0, 0, Number.MAX_SAFE_INTEGER);
  const messages = broker.peek(deadLetter ? `${entity}/$DeadLetterQueue` : entity, count, from);
  sendJson(res, 200, messages.map(messageToJson));
}

function buildMessages(req: http.IncomingMessage, body: Buffer, batch: boolean): SendMessage[] {
  const h = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const common: Omit<SendMessage, 'body'> = {};
  const set = <K extends keyof SendMessage>(key: K, value: SendMessage[K] | undefined): void => {
    if (value !== undefined) common[key as Exclude<K, 'body'>] = value as never;
  };
  set('correlationId', h('x-ms-correlation-id'));
  set('sessionId', h('x-ms-session-id'));
  set('subject', h('x-ms-subject'));
  set('replyTo', h('x-ms-reply-to'));
  set('to', h('x-ms-to'));
  const props = h('x-ms-application-properties');
  if (props !== undefined) set('applicationProperties', parseProperties(props));
  const ttl = h('x-ms-time-to-live');
  if (ttl !== undefined) set('timeToLiveMs', /^\d+$/.test(ttl) ? Number(ttl) : parseTimeSpan(ttl, NaN));
  if (common.timeToLiveMs !== undefined && !(common.timeToLiveMs > 0)) {
    throw new HttpProblem(
      400,
      `x-ms-time-to-live must be milliseconds or a TimeSpan (hh:mm:ss), not '${ttl}'.`,
    );
  }
  const scheduled = h('x-ms-scheduled-enqueue-time');
  if (scheduled !== undefined) {
    if (Number.isNaN(Date.parse(scheduled)))
      throw new HttpProblem(400, 'x-ms-scheduled-enqueue-time must be an ISO date.');
    set('scheduledEnqueueTime', new Date(scheduled));
  }
  const messageId = h('x-ms-message-id');
  if (!batch) {
    const contentType = h('content-type');
    return [
      { ...common, body, ...(contentType ? { contentType } : {}), ...(messageId ? { messageId } : {}) },
    ];
  }
  if (messageId)
    throw new HttpProblem(
      400,
      'x-ms-message-id cannot be used with batch=true: each message gets its own id.',
    );
  let items: unknown;
  try {
    items = JSON.parse(body.toString('utf8'));
  } catch {
    items = undefined;
  }
  if (!Array.isArray(items))
    throw new HttpProblem(400, 'With batch=true the body must be a JSON array of message bodies.');
  return valuesToMessages(items).map((m) => ({ ...common, ...m }));
}

function parseProperties(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpProblem(400, 'x-ms-application-properties must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HttpProblem(400, `Query parameter '${name}' must be an integer from ${min} to ${max}.`);
  }
  return n;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new HttpProblem(413, `A message body may have at most ${MAX_BODY} bytes.`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpProblem(400, `Bad percent-encoding in '${segment}'.`);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function toProblem(err: unknown): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (err instanceof ServiceBusError) {
    return new HttpProblem(
      err.code === 'MessagingEntityNotFound' ? 404 : err.code === 'MessageLockLost' ? 410 : 400,
      err.message,
    );
  }
  return new HttpProblem(500, (err as Error)?.message ?? String(err));
}
