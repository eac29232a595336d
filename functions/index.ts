/**
 * The one startup file of the Functions app (package.json "main"). It imports every registration;
 * the same compiled file runs on Azure and on the embedded local host.
 */
// Telemetry first: Application Insights must instrument modules as they load (src/telemetry/start.ts).
import '../src/telemetry/start';
import { app } from '@azure/functions';
import { shutdownTelemetry } from '../src/telemetry/setup';
import './setup';
import './health';
import './hello-sequence';
import './agents';
import './workflows-registry';
import './workflows';
import './runs';
import './messaging';
import './conversations';
import './docs';

// Registered last, so it runs after the hooks that close the stores: sends what telemetry still buffers.
app.hook.appTerminate(() => shutdownTelemetry());
