/**
 * Application Insights wiring: the Azure Monitor OpenTelemetry distro (applicationinsights v3
 * `useAzureMonitor`), set up once per process when APPLICATIONINSIGHTS_CONNECTION_STRING is set. It
 * registers the global tracer, meter and logger providers behind `@opentelemetry/api`, instruments
 * http (incoming requests → `requests`, outgoing calls → `dependencies`) and the Azure SDKs, and hooks
 * Functions invocations so their spans continue the host's trace (`InvocationContext.traceContext`).
 *
 * Without a connection string nothing is loaded (the SDK costs about a second of cold start), nothing
 * is exported and nothing throws: the OpenTelemetry API stays a no-op, so domain code never checks.
 *
 * Custom events (RunCompleted, RunFailed, RunCancelled) go through the OpenTelemetry logs API with
 * `microsoft.custom_event.name`, which the exporter of applicationinsights 3.16 turns into `customEvents`
 * rows. The alternative, `TelemetryClient.trackEvent`, would set up a second pipeline (or re-run
 * `useAzureMonitor`, which resets the global providers), and throws without a connection string.
 */
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config';
import { ConfigError } from '../errors';
import { CUSTOM_EVENT_NAME, CUSTOM_MEASUREMENTS, INSTRUMENTATION_SCOPE } from './names';
import { setEventSink, setRecordContent, type CustomEvent } from './state';

export type TelemetrySettings = Config['telemetry'];

type AppInsights = typeof import('applicationinsights');
type TokenCredential = import('@azure/identity').TokenCredential;
type LogsApi = typeof import('@opentelemetry/api-logs');

let sdk: AppInsights | undefined;

/**
 * Incoming requests are traced (the `requests` table), except the Functions host's hand-over of an
 * invocation's HTTP stream to the worker's proxy (`x-ms-invocation-id`): the host already recorded that
 * request, and the invocation continues its trace. (The local host hands it over in-process, with
 * request objects the instrumentation could not read.)
 */
const httpInstrumentation: { enabled: boolean; ignoreIncomingRequestHook(req: IncomingMessage): boolean } = {
  enabled: true,
  ignoreIncomingRequestHook: (req) => req.headers?.['x-ms-invocation-id'] !== undefined,
};

/**
 * The telemetry settings from the app settings (the config schema's own parsing; a bad value is a
 * ConfigError naming it). The schema is loaded only when a connection string is present, so start-up
 * without telemetry pays nothing.
 */
export function telemetrySettings(env: NodeJS.ProcessEnv = process.env): TelemetrySettings {
  if (!env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim()) return { recordContent: false };
  /* eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when telemetry is on */
  const { settingsSchema } = require('../config') as typeof import('../config');
  const parsed = settingsSchema
    .pick({
      APPLICATIONINSIGHTS_CONNECTION_STRING: true,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: true,
      TELEMETRY_RECORD_CONTENT: true,
    })
    .safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid app settings: ${problems.join('; ')}`);
  }
  const s = parsed.data;
  return {
    connectionString: s.APPLICATIONINSIGHTS_CONNECTION_STRING,
    authenticationString: s.APPLICATIONINSIGHTS_AUTHENTICATION_STRING,
    recordContent: s.TELEMETRY_RECORD_CONTENT,
  };
}

/**
 * The credential an `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` asks for (`Authorization=AAD`, with the
 * user-assigned identity's `ClientId`), the same setting the Functions host reads; undefined otherwise.
 * With local auth off, Application Insights refuses telemetry sent without it.
 */
export function exporterCredential(authentication: string | undefined): TokenCredential | undefined {
  if (!authentication) return undefined;
  const parts = new Map(
    authentication
      .split(';')
      .map((kv) => kv.split('=').map((x) => x.trim()))
      .filter((kv): kv is [string, string] => kv.length === 2 && kv[0] !== '')
      .map(([k, v]) => [k.toLowerCase(), v]),
  );
  if (parts.get('authorization')?.toLowerCase() !== 'aad') return undefined;
  /* eslint-disable-next-line @typescript-eslint/no-require-imports -- only with Entra authentication */
  const { ManagedIdentityCredential } = require('@azure/identity') as typeof import('@azure/identity');
  const clientId = parts.get('clientid');
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/**
 * The exporter (1.0.0-beta.43 and later) polls Microsoft's OneSettings service
 * (settings.sdk.monitor.azure.com) 5–15 s after start for "dynamic configuration", with no setting to
 * turn it off. This app's telemetry is configured by its own settings, and locally nothing may reach a
 * non-loopback address: stop that worker. Exporters without it are left alone.
 */
export function stopDynamicConfiguration(): boolean {
  try {
    /* eslint-disable @typescript-eslint/no-require-imports -- the exporter's own module instance */
    const path = require('node:path') as typeof import('node:path');
    const fromSdk = { paths: [path.dirname(require.resolve('applicationinsights'))] };
    const entry = require.resolve('@azure/monitor-opentelemetry-exporter', fromSdk);
    const file = path.join(path.dirname(entry), '_configuration', 'configurationManager.js');
    const manager = (require(file) as { ConfigurationManager?: { getInstance(): { shutdown(): void } } })
      .ConfigurationManager;
    /* eslint-enable @typescript-eslint/no-require-imports */
    if (!manager) return false;
    manager.getInstance().shutdown();
    return true;
  } catch {
    return false;
  }
}

/** Whether the SDK is set up (exporting) in this process. */
export function isTelemetryEnabled(): boolean {
  return sdk !== undefined;
}

/**
 * Sets up Application Insights once (later calls only update `recordContent`); returns whether telemetry
 * is exported. Call it before anything creates spans or loads modules it instruments: functions/index.ts
 * does, first thing. Never throws: telemetry that cannot start is reported on stderr and left off.
 */
export function setupTelemetry(settings: TelemetrySettings): boolean {
  setRecordContent(settings.recordContent);
  if (sdk) return true;
  const connectionString = settings.connectionString?.trim();
  if (!connectionString) return false;
  try {
    /* eslint-disable @typescript-eslint/no-require-imports -- the SDK loads only when telemetry is on */
    const appInsights = require('applicationinsights') as AppInsights;
    const { logs } = require('@opentelemetry/api-logs') as LogsApi;
    /* eslint-enable @typescript-eslint/no-require-imports */
    const credential = exporterCredential(settings.authenticationString);
    appInsights.useAzureMonitor({
      azureMonitorExporterOptions: { connectionString, ...(credential && { credential }) },
      // Uncaught errors stay the host's business: the SDK's handler would keep a process alive after an
      // unhandled rejection. Failures reach App Insights as failed spans, and through the host's logs.
      enableAutoCollectExceptions: false,
      instrumentationOptions: { http: httpInstrumentation },
    });
    stopDynamicConfiguration();
    const logger = logs.getLogger(INSTRUMENTATION_SCOPE);
    setEventSink((event: CustomEvent) =>
      logger.emit({
        attributes: {
          ...event.properties,
          [CUSTOM_EVENT_NAME]: event.name,
          [CUSTOM_MEASUREMENTS]: JSON.stringify(event.measurements),
        },
        ...(event.context && { context: event.context }),
      }),
    );
    sdk = appInsights;
    return true;
  } catch (err) {
    process.emitWarning(`Application Insights telemetry is off: it failed to start: ${String(err)}`);
    return false;
  }
}

/** Sends what is buffered (spans, metrics, events) now; resolves when the exporter answered. */
export async function flushTelemetry(): Promise<void> {
  if (sdk) await sdk.flushAzureMonitor();
}

/**
 * Flushes and stops the SDK (app shutdown: the appTerminate hook). A later setupTelemetry sets it up
 * again. Never throws.
 */
export async function shutdownTelemetry(): Promise<void> {
  const stopping = sdk;
  if (!stopping) return;
  sdk = undefined;
  setEventSink(undefined);
  try {
    await stopping.shutdownAzureMonitor();
  } catch (err) {
    process.emitWarning(`Application Insights telemetry did not shut down cleanly: ${String(err)}`);
  }
}
