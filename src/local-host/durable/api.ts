/**
 * The Durable Functions HTTP API (`/runtime/webhooks/durabletask/...`): what the real DurableClient
 * and the URLs of `createCheckStatusResponse` call. Status codes follow the extension's documentation.
 */
import type * as http from 'node:http';
import type { HostContext } from '../context';
import { problem, readBody, sendJson, sendProblem } from '../problem';
import type { RuntimeStatus } from './history';
import type { DurableHub } from './hub';
import { DurableHostError } from './services';
import type { InstanceQuery } from './store';

const PREFIX = '/runtime/webhooks/durabletask/';
const STATUSES: RuntimeStatus[] = [
  'Pending',
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Canceled',
  'Terminated',
  'Suspended',
];
const CODE: Record<string, number> = {
  NotFound: 404,
  Conflict: 409,
  Gone: 410,
  BadRequest: 400,
  NotImplemented: 501,
};

export function mountDurableApi(ctx: HostContext, hub: DurableHub): void {
  ctx.mountHttp(PREFIX, async (req, res, url) => {
    try {
      await route(hub, req, res, url);
    } catch (err) {
      if (err instanceof DurableHostError)
        return sendProblem(res, problem(CODE[err.code] ?? 400, err.message));
      const status = (err as { status?: number }).status;
      if (status) return sendProblem(res, problem(status, (err as Error).message));
      ctx.log.error(`durable API ${req.method} ${url.pathname}: ${(err as Error).stack ?? String(err)}`);
      sendProblem(res, problem(500, 'The durable task hub failed to handle the request.'));
    }
  });
}

async function jsonBody(req: http.IncomingMessage): Promise<string | undefined> {
  const text = (await readBody(req)).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    JSON.parse(text);
  } catch (err) {
    throw new DurableHostError('BadRequest', `The request body is not valid JSON: ${(err as Error).message}`);
  }
  return text;
}

function flag(url: URL, name: string): boolean {
  return url.searchParams.get(name)?.toLowerCase() === 'true';
}

function parseQuery(url: URL, req: http.IncomingMessage): InstanceQuery {
  const q: InstanceQuery = {};
  const statuses = url.searchParams.get('runtimeStatus');
  if (statuses) {
    q.runtimeStatus = statuses.split(',').map((s) => {
      const found = STATUSES.find((x) => x.toLowerCase() === s.trim().toLowerCase());
      if (!found)
        throw new DurableHostError(
          'BadRequest',
          `Unknown runtimeStatus '${s}'. Valid values: ${STATUSES.join(', ')}.`,
        );
      return found;
    });
  }
  for (const key of ['createdTimeFrom', 'createdTimeTo'] as const) {
    const v = url.searchParams.get(key);
    if (v) {
      if (Number.isNaN(Date.parse(v)))
        throw new DurableHostError('BadRequest', `${key} is not a valid date: '${v}'.`);
      q[key] = new Date(v).toISOString();
    }
  }
  const prefix = url.searchParams.get('instanceIdPrefix');
  if (prefix) q.instanceIdPrefix = prefix;
  const top = url.searchParams.get('top');
  if (top) {
    const n = Number(top);
    if (!Number.isInteger(n) || n <= 0)
      throw new DurableHostError('BadRequest', `top must be a positive integer, not '${top}'.`);
    q.top = n;
  }
  const token = req.headers['x-ms-continuation-token'];
  if (typeof token === 'string' && token) {
    try {
      q.after = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as InstanceQuery['after'];
    } catch {
      throw new DurableHostError('BadRequest', 'The continuation token is not valid.');
    }
  }
  return q;
}

async function route(
  hub: DurableHub,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
): Promise<void> {
  const parts = url.pathname.slice(PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const [kind, a, b, c] = parts;
  const base = `${hub.baseUrl()}${PREFIX}`;

  if (kind === 'orchestrators' && a && parts.length <= 3 && method === 'POST') {
    const input = await jsonBody(req);
    const id = await hub.startNew(a, input, b || undefined);
    const payload = managementPayload(base, id, hub.hubQueryString());
    const timeout = url.searchParams.get('timeout');
    if (timeout) {
      const done = await hub.waitForCompletion(id, Number(timeout) * 1000);
      const status = hub.getStatus(id);
      if (done && status?.runtimeStatus === 'Completed') return sendJson(res, 200, status.output);
      if (done) return sendJson(res, status?.runtimeStatus === 'Failed' ? 500 : 200, status);
    }
    return sendJson(res, 202, payload, { location: payload.statusQueryGetUri });
  }

  if (kind === 'instances' && !a) {
    if (method === 'GET') {
      const q = parseQuery(url, req);
      const { items, last } = hub.query(q, { showInput: url.searchParams.get('showInput') !== 'false' });
      const headers: Record<string, string> = {};
      if (q.top && items.length === q.top && last) {
        headers['x-ms-continuation-token'] = Buffer.from(
          JSON.stringify({ createdTime: last.createdTime, id: last.id }),
        ).toString('base64url');
      }
      return sendJson(res, 200, items, headers);
    }
    if (method === 'DELETE') {
      const deleted = hub.purgeWhere(parseQuery(url, req));
      return deleted
        ? sendJson(res, 200, { instancesDeleted: deleted })
        : sendProblem(res, problem(404, 'No finished instance matched the filter.'));
    }
  }

  if (kind === 'instances' && a) {
    if (!b && method === 'GET') {
      const status = hub.getStatus(a, {
        showHistory: flag(url, 'showHistory'),
        showHistoryOutput: flag(url, 'showHistoryOutput'),
        showInput: url.searchParams.get('showInput') !== 'false',
      });
      if (!status) return sendProblem(res, problem(404, `No instance with ID '${a}' found.`));
      const code =
        status.runtimeStatus === 'Completed'
          ? 200
          : ['Failed', 'Terminated', 'Canceled'].includes(String(status.runtimeStatus))
            ? 400
            : 202;
      const headers: Record<string, string> =
        code === 202 ? { location: `${base}instances/${encodeURIComponent(a)}`, 'retry-after': '10' } : {};
      return sendJson(res, code, status, headers);
    }
    if (!b && method === 'DELETE') {
      return hub.purge(a)
        ? sendJson(res, 200, { instancesDeleted: 1 })
        : sendProblem(res, problem(404, `No instance with ID '${a}' found.`));
    }
    if (method === 'POST') {
      const reason = url.searchParams.get('reason') ?? '';
      switch (b) {
        case 'raiseEvent':
          // Like the Functions host's route: one path segment (a name with an unencoded '/' is not found).
          if (!c || parts.length > 4) break;
          await hub.raiseEvent(a, c, await jsonBody(req));
          return sendJson(res, 202, undefined);
        case 'terminate':
          hub.terminate(a, reason);
          return sendJson(res, 202, undefined);
        case 'suspend':
          hub.suspend(a, reason);
          return sendJson(res, 202, undefined);
        case 'resume':
          hub.resume(a, reason);
          return sendJson(res, 202, undefined);
        case 'rewind':
        case 'restart':
          return sendProblem(res, problem(501, `The ${b} operation is not supported by the local host.`));
      }
    }
  }

  if (kind === 'entities' && a) {
    if (b !== undefined && method === 'POST') {
      const op = url.searchParams.get('op') ?? '';
      await hub.signalEntity(a, b, op, await jsonBody(req));
      return sendJson(res, 202, undefined);
    }
    if (b !== undefined && method === 'GET') {
      const e = hub.readEntity(a, b);
      if (!e.exists) return sendProblem(res, problem(404, `Entity @${a}@${b} does not exist.`));
      return sendJson(res, 200, e.state === undefined ? null : JSON.parse(e.state));
    }
    if (b === undefined && method === 'GET') {
      return sendJson(res, 200, hub.listEntities(a, Number(url.searchParams.get('top') ?? 100)));
    }
  }
  sendProblem(res, problem(404, `No Durable HTTP API operation matches ${method} ${url.pathname}.`));
}

/** The management links of an instance, with the task hub query parameters the extension adds. */
export function managementPayload(
  base: string,
  id: string,
  qs: string,
): Record<string, string> & { statusQueryGetUri: string } {
  const inst = `${base}instances/${encodeURIComponent(id)}`;
  return {
    id,
    statusQueryGetUri: `${inst}?${qs}`,
    sendEventPostUri: `${inst}/raiseEvent/{eventName}?${qs}`,
    terminatePostUri: `${inst}/terminate?reason={text}&${qs}`,
    rewindPostUri: `${inst}/rewind?reason={text}&${qs}`,
    purgeHistoryDeleteUri: `${inst}?${qs}`,
    restartPostUri: `${inst}/restart?${qs}`,
    suspendPostUri: `${inst}/suspend?reason={text}&${qs}`,
    resumePostUri: `${inst}/resume?reason={text}&${qs}`,
  };
}
