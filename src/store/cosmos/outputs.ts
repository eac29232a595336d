/**
 * Step outputs in the runOutputs container (pk = run id), content-addressed as payloads.ts says: the
 * item id is the text's SHA-256, so writing the same text twice is one copy (a 409 is "already there").
 * A Cosmos item holds at most 2 MB, so a text is cut into parts of 256 Ki UTF-16 units (at most
 * ~1.5 MB of JSON even when every unit needs an escape): parts 1.. are written first, and part 0 —
 * the one a read starts from — last, so a text that can be found is complete. A crash in between
 * leaves unreachable parts that the next identical put reuses and deleteRun removes.
 */
import type { Container } from '@azure/cosmos';
import { outputNotFound, outputRefFor, parseOutputRef, verifyOutput } from '../payloads';
import type { OutputRef } from '../runs';
import { createItem, deleteItem, mapLimit, queryAll, readItem } from './shared';

export const PART_UNITS = 256 * 1024;

interface OutputPart {
  id: string;
  pk: string;
  kind: 'output';
  sha256: string;
  stepId: string;
  bytes: number;
  part: number;
  parts: number;
  createdAt: string;
  text: string;
}

const partId = (sha256: string, part: number): string => (part === 0 ? sha256 : `${sha256}.${part}`);

/** Cuts a text into parts, never between the two halves of a surrogate pair. */
export function splitText(text: string, units = PART_UNITS): string[] {
  const parts: string[] = [];
  for (let at = 0; at < text.length || parts.length === 0;) {
    let end = Math.min(text.length, at + units);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(text.slice(at, end));
    at = end;
  }
  return parts;
}

export async function putOutput(
  container: Container,
  runId: string,
  stepId: string,
  text: string,
): Promise<OutputRef> {
  const ref = outputRefFor(runId, text);
  const parts = splitText(text);
  const createdAt = new Date().toISOString();
  const doc = (part: number): OutputPart => ({
    id: partId(ref.sha256, part),
    pk: runId,
    kind: 'output',
    sha256: ref.sha256,
    stepId,
    bytes: ref.bytes,
    part,
    parts: parts.length,
    createdAt,
    text: parts[part]!,
  });
  await mapLimit(
    parts.slice(1).map((_, i) => i + 1),
    4,
    (part) => createItem(container, doc(part)),
  );
  await createItem(container, doc(0));
  return ref;
}

export async function getOutput(container: Container, ref: OutputRef | string): Promise<string> {
  const { runId, sha256, ref: name } = parseOutputRef(ref);
  const head = await readItem<OutputPart>(container, sha256, runId);
  if (!head) throw outputNotFound(name);
  const rest = await mapLimit(
    Array.from({ length: head.parts - 1 }, (_, i) => i + 1),
    4,
    async (part) => {
      const found = await readItem<OutputPart>(container, partId(sha256, part), runId);
      if (!found) throw outputNotFound(name);
      return found.text;
    },
  );
  return verifyOutput(sha256, [head.text, ...rest].join(''), name);
}

/** Deletes every output of the run. */
export async function deleteOutputs(container: Container, runId: string): Promise<void> {
  const ids = await queryAll<string>(container, 'SELECT VALUE c.id FROM c WHERE c.pk = @pk', {
    '@pk': runId,
  });
  await mapLimit(ids, 8, (id) => deleteItem(container, id, runId));
}
