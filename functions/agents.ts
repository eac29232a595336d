/**
 * HTTP triggers of the agent API: run an agent (JSON or SSE stream), list capabilities, and the agent
 * registry (/api/v1/agents). Thin adapters: parse the request, call the use case in src/api, map its
 * answer. Routes, methods and names come from the route table that also generates the OpenAPI document.
 *
 * The use cases (zod, the tokenizer, the runner) load on first use, not at registration: start-up stays
 * as fast as /api/health needs it to be.
 */
import {
  app,
  HttpResponse,
  type HttpRequest,
  type HttpResponseInit,
  type InvocationContext,
} from '@azure/functions';
import type { ApiDeps } from '../src/api/agents';
import { answer, parseJsonBody, type ApiResponse } from '../src/api/http';
import { httpOptions, ROUTES, type RouteSpec } from '../src/api/routes';

export type UseCase = (req: HttpRequest, deps: ApiDeps) => Promise<ApiResponse> | ApiResponse;

/** A module loaded once, on first call. */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}

let composed = false;
const composition = lazy(() => {
  composed = true;
  return import('../src/app');
});
const agentsApi = lazy(() => import('../src/api/agents'));
const registryApi = lazy(() => import('../src/api/registry'));

/** A streamed body: each string is encoded and handed on as soon as it is produced. */
function readableOf(chunks: AsyncIterable<string>): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await it.return?.();
    },
  });
}

export function toHttpResponse(r: ApiResponse): HttpResponseInit | HttpResponse {
  const { status, headers } = r;
  if (r.stream) return new HttpResponse({ status, headers, body: readableOf(r.stream) });
  if (r.text !== undefined) return { status, headers, body: r.text };
  if (r.json !== undefined) return { status, headers, jsonBody: r.json };
  return { status, headers };
}

/**
 * Wraps a use case: services from the composition root (composed on first access, so the docs never
 * open the catalog), every failure as problem+json.
 */
export function handler(useCase: UseCase) {
  return async (req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit | HttpResponse> => {
    const log = (message: string): void => context.error(message);
    const res = await answer(async () => {
      const { getServices } = await composition();
      const deps: ApiDeps = {
        get agents() {
          return getServices().agents;
        },
        get catalog() {
          return getServices().catalog;
        },
        log,
      };
      return useCase(req, deps);
    }, log);
    return toHttpResponse(res);
  };
}

/** Registers a route of the table under its function name. */
export function register(spec: RouteSpec, useCase: UseCase): void {
  app.http(spec.name, { ...httpOptions(spec), handler: handler(useCase) });
}

/**
 * The app's services, composed on first call. Every trigger file goes through this one, so the
 * shutdown hook below knows whether there is anything to close (the run store's WAL included).
 */
export const appServices = async (): Promise<import('../src/app').AppServices> =>
  (await composition()).getServices();

/** The JSON body of a request (400 REQUEST.MALFORMED_JSON when it is not JSON). */
export const jsonBody = async (req: HttpRequest): Promise<unknown> => parseJsonBody(await req.text());
/** The `{id}` route parameter. */
export const pathId = (req: HttpRequest): string => req.params.id ?? '';

register(ROUTES.executeAgent, async (req, deps) =>
  (await agentsApi()).executeAgent(deps, await jsonBody(req)),
);
register(ROUTES.streamAgent, async (req, deps) => (await agentsApi()).streamAgent(deps, await jsonBody(req)));
register(ROUTES.agentCapabilities, async (_req, deps) => (await agentsApi()).capabilities(deps));
register(ROUTES.listAgents, async (_req, deps) => (await registryApi()).listAgents(deps));
register(ROUTES.createAgent, async (req, deps) =>
  (await registryApi()).createAgent(deps, await jsonBody(req)),
);
register(ROUTES.getAgent, async (req, deps) => (await registryApi()).getAgent(deps, pathId(req)));
register(ROUTES.updateAgent, async (req, deps) =>
  (await registryApi()).updateAgent(deps, pathId(req), await jsonBody(req), req.headers.get('if-match')),
);
register(ROUTES.deleteAgent, async (req, deps) => (await registryApi()).deleteAgent(deps, pathId(req)));

// On shutdown, close the catalog (if it was ever opened) so SQLite checkpoints its WAL.
app.hook.appTerminate(async () => {
  if (composed) (await composition()).closeServices();
});
