/**
 * GET /api/openapi.json and GET /api/docs: the API description and its HTML rendering. Both are built
 * on first request (the document needs zod and every schema), then served from memory.
 */
import type { ApiResponse } from '../src/api/http';
import { ROUTES } from '../src/api/routes';
import { lazy, register } from './agents';

/** The page runs only its own inline script and talks only to this origin. */
const DOCS_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:";

const openApi = lazy(() => import('../src/api/openapi'));
const docsPage = lazy(() => import('../src/api/docs'));

const openApiDocument = async (): Promise<ApiResponse> => ({
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' },
  text: (await openApi()).openApiJson(),
});

const apiDocs = async (): Promise<ApiResponse> => ({
  status: 200,
  headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': DOCS_CSP },
  text: (await docsPage()).docsHtml(),
});

register(ROUTES.openApiDocument, openApiDocument);
register(ROUTES.apiDocs, apiDocs);
