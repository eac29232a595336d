/**
 * The shared context (outputs of earlier tasks, project facts) as the seed's `_format_context` writes
 * it: one `- key: value` line per entry, in a second system message after the agent's own prompt.
 * Nested values are compact JSON rather than Python's repr, so any model reads them the same way.
 */
import type { ChatMessage } from '../llm/types';

export const CONTEXT_HEADER = 'Project Context:';

function formatValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value) ?? '';
}

/** `- key: value` lines; entries whose value is undefined are left out. */
export function formatContext(context: Record<string, unknown>): string {
  return Object.entries(context)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `- ${key}: ${formatValue(value)}`)
    .join('\n');
}

/** The `Project Context:` system message, or undefined when there is no context (as `if context:`). */
export function contextMessage(context: Record<string, unknown> | undefined): ChatMessage | undefined {
  const body = context ? formatContext(context) : '';
  return body ? { role: 'system', content: `${CONTEXT_HEADER}\n${body}` } : undefined;
}
