/**
 * HTTP triggers of the runs API (/api/v1/runs…, /api/v1/monitoring/metrics). Each gets the durable
 * client binding, adapted to the RunService's OrchestrationClient port; everything else is in
 * src/api/runs.ts. Routes come from the route table (src/api/run-routes.ts).
 */
import {
  app,
  type HttpRequest,
  type HttpResponse,
  type HttpResponseInit,
  type InvocationContext,
} from '@azure/functions';
import * as df from 'durable-functions';
import { answer, type ApiResponse } from '../src/api/http';
import { RUN_ROUTES } from '../src/api/run-routes';
import { httpOptions, type RouteSpec } from '../src/api/routes';
import type { RunsApiDeps } from '../src/api/runs';
import type { OrchestrationClient } from '../src/workflows/run-service';
import { appServices, jsonBody, lazy, pathId, toHttpResponse } from './agents';

type RunsUseCase = (req: HttpRequest, deps: RunsApiDeps) => Promise<ApiResponse> | ApiResponse;

const runsApi = lazy(() => import('../src/api/runs'));
const runServices = lazy(() => import('../src/api/run-wiring'));

/** The durable client as the RunService sees it. */
export function orchestrationClient(client: df.DurableClient): OrchestrationClient {
  return {
    startNew: async (name, instanceId, input) => {
      await client.startNew(name, { instanceId, input });
    },
    raiseEvent: (instanceId, eventName, data) => client.raiseEvent(instanceId, eventName, data),
    getStatus: async (instanceId) => {
      try {
        return await client.getStatus(instanceId);
      } catch (err) {
        if (/HTTP 404/.test(String(err))) return undefined;
        throw err;
      }
    },
  };
}

function handler(useCase: RunsUseCase) {
  return async (req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit | HttpResponse> => {
    const log = (message: string): void => context.error(message);
    const res = await answer(async () => {
      const client = df.getClient(context);
      const services = await appServices();
      const deps: RunsApiDeps = {
        service: (await runServices()).runServiceFor(services),
        store: services.runs,
        client: orchestrationClient(client),
        durableUrls: (id) => ({ ...client.createHttpManagementPayload(id) }),
        heartbeatMs: services.config.runs.sseHeartbeatMs,
      };
      return useCase(req, deps);
    }, log);
    return toHttpResponse(res);
  };
}

function register(spec: RouteSpec, useCase: RunsUseCase): void {
  app.http(spec.name, {
    ...httpOptions(spec),
    extraInputs: [df.input.durableClient()],
    handler: handler(useCase),
  });
}

register(RUN_ROUTES.startRun, async (req, deps) =>
  (await runsApi()).startRun(deps, await jsonBody(req), req.headers.get('idempotency-key')),
);
register(RUN_ROUTES.listRuns, async (req, deps) => (await runsApi()).listRuns(deps, req.query));
register(RUN_ROUTES.getRun, async (req, deps) => (await runsApi()).getRun(deps, pathId(req)));
register(RUN_ROUTES.getStepOutput, async (req, deps) =>
  (await runsApi()).getStepOutput(deps, pathId(req), req.params.stepId ?? ''),
);
register(RUN_ROUTES.runEvents, async (req, deps) =>
  (await runsApi()).runEvents(
    deps,
    pathId(req),
    { lastEventId: req.headers.get('last-event-id'), accept: req.headers.get('accept') },
    req.query,
  ),
);
register(RUN_ROUTES.decideApproval, async (req, deps) =>
  (await runsApi()).decideApproval(deps, pathId(req), await jsonBody(req)),
);
register(RUN_ROUTES.cancelRun, async (req, deps) =>
  (await runsApi()).cancelRun(deps, pathId(req), await jsonBody(req)),
);
register(RUN_ROUTES.metrics, async (req, deps) => (await runsApi()).metrics(deps, req.query));
