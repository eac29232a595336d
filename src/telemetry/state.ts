/**
 * Process-wide telemetry state shared by the instrumentation and the setup: whether content (prompts,
 * outputs) may be recorded, and where custom events go. Both are set by setupTelemetry; until then (and
 * without a connection string) content is off and events go nowhere.
 */
import type { Context } from '@opentelemetry/api';

/** A custom event: properties land in customDimensions, measurements in customMeasurements. */
export interface CustomEvent {
  name: string;
  properties: Record<string, string>;
  measurements: Record<string, number>;
  /** The trace the event belongs to (its operation id and parent). */
  context?: Context;
}
export type EventSink = (event: CustomEvent) => void;

let recordContent = false;
let eventSink: EventSink | undefined;

export function setRecordContent(value: boolean): void {
  recordContent = value;
}

/** Whether prompts and outputs may be put on spans (TELEMETRY_RECORD_CONTENT). */
export function shouldRecordContent(): boolean {
  return recordContent;
}

export function setEventSink(sink: EventSink | undefined): void {
  eventSink = sink;
}

/** Emits a custom event when telemetry is on; never throws. */
export function emitEvent(event: CustomEvent): void {
  try {
    eventSink?.(event);
  } catch {
    // Telemetry never fails the work it observes.
  }
}
