/**
 * Output references: step outputs are stored once and passed around as `{ref, bytes, sha256}`.
 * Refs are content-addressed within their run — `runs/<runId>/outputs/<sha256>` — because activities
 * run at least once: a retried step that writes the same text gets the same ref and no second copy,
 * and deleting a run deletes everything under it without reference counting across runs or tenants.
 * The shape is a blob path on purpose, so a Blob-backed adapter can use it as is.
 */
import { createHash } from 'node:crypto';
import { NotFoundError } from '../errors';
import type { OutputRef } from './runs';

const REF = /^runs\/([^/]+)\/outputs\/([0-9a-f]{64})$/;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The ref a text gets in a run (what putOutput returns). */
export function outputRefFor(runId: string, text: string): OutputRef {
  const sha256 = sha256Hex(text);
  return {
    ref: `runs/${encodeURIComponent(runId)}/outputs/${sha256}`,
    bytes: Buffer.byteLength(text, 'utf8'),
    sha256,
  };
}

/** The run and hash a ref names; a malformed ref names nothing stored (RUN.OUTPUT_NOT_FOUND). */
export function parseOutputRef(ref: OutputRef | string): { runId: string; sha256: string; ref: string } {
  const text = typeof ref === 'string' ? ref : ref.ref;
  const match = REF.exec(text);
  if (!match?.[1] || !match[2]) throw outputNotFound(text);
  return { runId: decodeURIComponent(match[1]), sha256: match[2], ref: text };
}

/** Whether a run's `output` is a reference rather than inline JSON. */
export function isOutputRef(value: unknown): value is OutputRef {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.ref === 'string' && typeof v.bytes === 'number' && typeof v.sha256 === 'string';
}

/** The first `max` characters on one line (StepRecord.summary), without splitting a surrogate pair. */
export function summarize(text: string, max = 200): string {
  // Only the head matters: a 1 MB output is not flattened whole.
  const flat = text
    .slice(0, max * 4)
    .replace(/\s+/g, ' ')
    .trim();
  if (flat.length <= max && text.length <= max * 4) return flat;
  let out = '';
  for (const ch of flat) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/** Read-back check: a stored text must still hash to its name. */
export function verifyOutput(sha256: string, text: string, ref: string): string {
  if (sha256Hex(text) !== sha256) throw new Error(`Stored output ${ref} does not match its sha256.`);
  return text;
}

export const outputNotFound = (ref: string): NotFoundError =>
  new NotFoundError('RUN.OUTPUT_NOT_FOUND', `No stored output '${ref}'.`);
