/**
 * HTTP triggers of the workflow registry (/api/v1/workflows): thin adapters over src/api/workflows.ts,
 * registered from the route table. Definitions may be sent as JSON or as YAML (Content-Type
 * application/yaml or text/yaml). The use cases load on first use, not at registration.
 */
import type { HttpRequest } from '@azure/functions';
import { ROUTES } from '../src/api/routes';
import { lazy, pathId, register } from './agents';

const workflowsApi = lazy(() => import('../src/api/workflows'));

/** The agent triggers' body helper, YAML-aware: the content type picks the parser. */
const definitionBody = async (req: HttpRequest): Promise<unknown> =>
  (await workflowsApi()).parseDefinitionBody(await req.text(), req.headers.get('content-type'));

register(ROUTES.listWorkflows, async (_req, deps) => (await workflowsApi()).listWorkflows(deps));
register(ROUTES.createWorkflow, async (req, deps) =>
  (await workflowsApi()).createWorkflow(deps, await definitionBody(req)),
);
register(ROUTES.getWorkflow, async (req, deps) =>
  (await workflowsApi()).getWorkflow(deps, pathId(req), req.query.get('version')),
);
register(ROUTES.updateWorkflow, async (req, deps) =>
  (await workflowsApi()).updateWorkflow(
    deps,
    pathId(req),
    await definitionBody(req),
    req.headers.get('if-match'),
  ),
);
register(ROUTES.deleteWorkflow, async (req, deps) =>
  (await workflowsApi()).deleteWorkflow(deps, pathId(req)),
);
