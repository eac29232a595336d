/** The body of GET /api/health. */
const startedAt = Date.now();

export interface HealthReport {
  status: 'ok';
  service: string;
  version: string;
  uptimeSeconds: number;
  node: string;
}

export function healthReport(now = Date.now()): HealthReport {
  return {
    status: 'ok',
    service: 'agent-functions',
    version: process.env.npm_package_version ?? '0.1.0',
    uptimeSeconds: Math.round((now - startedAt) / 1000),
    node: process.version,
  };
}
