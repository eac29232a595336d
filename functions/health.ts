import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { healthReport } from '../src/api/health';

export function health(_req: HttpRequest, _context: InvocationContext): HttpResponseInit {
  return { status: 200, jsonBody: healthReport() };
}

app.http('health', { methods: ['GET'], route: 'health', authLevel: 'anonymous', handler: health });
