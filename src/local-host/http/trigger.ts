/**
 * Runs one HTTP-triggered function for one request, buffered (the body travels in the RPC trigger
 * data) or streamed (the body and response travel through the library's proxy, see streaming.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HostContext } from '../context';
import type { Registration, RpcTypedData } from '../worker/core';
import { toError, type InvocationRequest, type InvocationResult } from '../worker/invoker';
import { sendProblem } from './problem';
import {
  BodyTooLargeError,
  httpTriggerMetadata,
  MAX_BODY_BYTES,
  readBody,
  toRpcHttpRequest,
} from './request';
import { responseExpectation, splitOutputs, writeHttpResponse, writeNoContent } from './response';
import type { HttpRoute } from './route-table';
import type { StreamProxy } from './streaming';

export type DispatchOutputs = (
  reg: Registration,
  outputs: { name: string; data: RpcTypedData }[],
) => Promise<void>;

export interface TriggerRun {
  ctx: HostContext;
  dispatchOutputs: DispatchOutputs;
  /** Set when the app enabled HTTP streaming. */
  stream: StreamProxy | undefined;
  route: HttpRoute;
  params: Record<string, string>;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
}

/** How long to wait for a streamed response the function certainly (or maybe) sent through the proxy. */
const STREAM_START_WAIT_MS = { yes: 30_000, maybe: 1_000 };

export async function runHttpTrigger(run: TriggerRun): Promise<void> {
  const started = Date.now();
  const invocationId = randomUUID();
  let succeeded = false;
  try {
    succeeded = run.stream
      ? await runStreamed(run, run.stream, invocationId)
      : await runBuffered(run, invocationId);
  } finally {
    run.ctx.log.debug(
      `Executed 'Functions.${run.route.reg.name}' (${succeeded ? 'Succeeded' : 'Failed'}, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
    );
  }
}

async function runBuffered(run: TriggerRun, invocationId: string): Promise<boolean> {
  const { ctx, route, req, res } = run;
  let body: Buffer;
  try {
    body = await readBody(req, MAX_BODY_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLargeError) tooLarge(res);
    else res.destroy(); // the client went away mid-upload
    return false;
  }
  const http = toRpcHttpRequest(req, run.url, run.params, body);
  const result = await invoke(ctx, route.reg, {
    trigger: { http },
    triggerMetadata: httpTriggerMetadata(http),
    invocationId,
  });
  if (result.error) return failed(run, invocationId, result.error);
  const outputs = splitOutputs(route.reg, result.response);
  try {
    // Outputs are flushed as part of the invocation, as in Azure: a client that got a 2xx can rely on them.
    await run.dispatchOutputs(route.reg, outputs.others);
    if (outputs.http) writeHttpResponse(res, outputs.http, req.method ?? 'GET');
    else writeNoContent(res);
  } catch (err) {
    return failed(run, invocationId, toError(err));
  }
  return true;
}

async function runStreamed(run: TriggerRun, stream: StreamProxy, invocationId: string): Promise<boolean> {
  const { ctx, route, req, res } = run;
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    tooLarge(res);
    return false;
  }
  const exchange = stream.open(req, res, run.url, invocationId, MAX_BODY_BYTES);
  const http = toRpcHttpRequest(req, run.url, run.params, undefined);
  const invocation = invoke(ctx, route.reg, {
    trigger: { http },
    triggerMetadata: httpTriggerMetadata(http),
    invocationId,
  });
  // If the proxy cannot be reached, the library never sees the request and the invocation never ends.
  const proxyFailure = exchange.started.then(
    () => new Promise<never>(() => undefined),
    (err: unknown) => ({ proxyError: toError(err) }),
  );
  const outcome = await Promise.race([invocation, proxyFailure]);
  if (exchange.tooLarge) {
    tooLarge(res);
    return false;
  }
  if ('proxyError' in outcome) {
    if (!exchange.wasAborted) {
      ctx.log.error(
        `HTTP stream proxy ${stream.uri} failed for '${route.reg.name}': ${outcome.proxyError.message}`,
      );
    }
    sendProblem(res, 502, 'The function app did not accept the streamed request.');
    return false;
  }
  if (outcome.error) {
    exchange.abort();
    return failed(run, invocationId, outcome.error);
  }
  const expectation = responseExpectation(route.reg, outcome.result);
  if (expectation !== 'no' && !exchange.isStarted) {
    await within(exchange.started, STREAM_START_WAIT_MS[expectation]);
  }
  if (!exchange.isStarted) {
    exchange.abort();
    writeNoContent(res);
  }
  try {
    await run.dispatchOutputs(route.reg, splitOutputs(route.reg, outcome.response).others);
  } catch (err) {
    // The response is already on its way; all that is left is to say so.
    ctx.log.error(
      `Delivering the outputs of '${route.reg.name}' (Id=${invocationId}) failed: ${toError(err).stack}`,
    );
    exchange.abort();
    return false;
  }
  await exchange.finished;
  return true;
}

function invoke(ctx: HostContext, reg: Registration, request: InvocationRequest): Promise<InvocationResult> {
  return ctx.invoker.invoke(reg, request).catch((err: unknown) => ({
    invocationId: request.invocationId ?? '',
    result: undefined,
    error: toError(err),
  }));
}

/** Logs the whole error for the developer; the client only learns that the function failed. */
function failed(run: TriggerRun, invocationId: string, error: Error): false {
  const name = `Functions.${run.route.reg.name}`;
  run.ctx.log.error(
    `Exception while executing function: ${name} (Id=${invocationId}): ${error.stack ?? error.message}`,
  );
  sendProblem(run.res, 500, `Exception while executing function: ${name}. See the host log for details.`);
  return false;
}

function tooLarge(res: ServerResponse): void {
  // The rest of the upload is not worth reading: answer and close the connection.
  sendProblem(res, 413, `The request body is larger than the limit of ${MAX_BODY_BYTES} bytes.`, {
    connection: 'close',
  });
}

/** Waits for `promise` (settled either way) or `ms`, without leaving a timer behind. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}
