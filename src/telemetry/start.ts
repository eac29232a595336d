/**
 * Starts telemetry from the app settings as a side effect of being imported: functions/index.ts imports
 * it before anything else, so the SDK instruments modules as they load and hooks every invocation
 * (an import, not a call, because compilers may hoist imports above the statements between them).
 */
import { setupTelemetry, telemetrySettings } from './setup';

setupTelemetry(telemetrySettings(process.env));
