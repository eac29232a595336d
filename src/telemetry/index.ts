/**
 * Telemetry for domain code: OpenTelemetry API only (no SDK here), so it is a no-op until
 * functions/index.ts sets Application Insights up (./setup). docs/telemetry.md lists what is emitted.
 */
export { currentTraceparent, parseTraceparent, withRunScope, type RunScope } from './context';
export { AgentRunSpan, LlmGenerationSpan } from './genai';
export { ATTR, EVENTS, GEN_AI, METRICS, SPANS } from './names';
export { runScopeOf, statusSnapshot, traceEnded, type StatusSnapshot } from './workflow';
