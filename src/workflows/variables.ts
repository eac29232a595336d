/**
 * What a workflow template can read: the contract between validation (which rejects anything else
 * when a definition is saved) and the orchestrator (which builds exactly these variables when it
 * renders). Templates are strict, so a variable missing at run time fails the step; checking the
 * names up front turns that run-time failure into a save-time error.
 *
 * Every template can read:
 * - `input`: the run input; when the workflow's `input` JSON Schema declares properties (and does
 *   not let in others), only those;
 * - `steps.<id>`: the result of a step that is a direct or indirect dependency (`dependsOn`) of the
 *   step, with the fields of STEP_OUTPUTS (`steps.design.output`). A step id with `-` is written
 *   `steps['write-docs'].output`. A step skipped by its `when` has no result; read it with
 *   `| default(...)` or `is defined`.
 *
 * Some templates can read more (EXTRA_ROOTS).
 */
import type { StepKind } from './steps';

/** Where a template sits in a step; decides which variables it can read. */
export type TemplateSite =
  'prompt' | 'context' | 'when' | 'branch' | 'forEach' | 'aggregate' | 'groupChat' | 'review' | 'approval';

export const COMMON_ROOTS = ['input', 'steps'] as const;

/** Variables only some templates can read, beyond `input` and `steps`. */
export const EXTRA_ROOTS: Partial<Record<TemplateSite, readonly string[]>> = {
  /** `parallel.forEach.prompt`: the current `item` and `loop` {index (1-based), index0, first, last, length, revindex}. */
  forEach: ['item', 'loop'],
  /** `parallel.aggregate.prompt`: `results`, the branch outputs (strings) in branch or item order. */
  aggregate: ['results'],
  /** `review.prompt`, rendered each iteration: `iteration` (1-based) and `feedback` (the validator's issues from the previous iteration as text; '' on the first). */
  review: ['iteration', 'feedback'],
};

/** The variables a template at this site can read. */
export function rootsOf(site: TemplateSite): readonly string[] {
  return [...COMMON_ROOTS, ...(EXTRA_ROOTS[site] ?? [])];
}

/** How a site is named in messages ("a prompt of an agent step can use …"). */
export const SITE_NAMES: Record<TemplateSite, string> = {
  prompt: 'an agent step prompt',
  context: 'an agent step context value',
  when: 'a when condition',
  branch: 'a parallel branch prompt',
  forEach: 'a forEach prompt',
  aggregate: 'an aggregate prompt',
  groupChat: 'a group chat prompt',
  review: 'a review prompt',
  approval: 'an approval prompt',
};

/**
 * The fields of `steps.<id>` by step kind:
 * - agent: `output` (text), `parsed` (the structured output, for agents with an output schema);
 * - parallel: `output` (the aggregate's output, or the branch outputs joined by blank lines), `results` (list of branch outputs);
 * - groupChat: `output` (the last message), `transcript` (list of {speaker, content}), `rounds`;
 * - review: `output` (the builder's last output), `verdict` (the validator's last verdict), `approved`, `iterations`;
 * - approval: `output` ('approved' or 'rejected'), `approved`, `comment`, `by`.
 */
export const STEP_OUTPUTS: Record<StepKind, readonly string[]> = {
  agent: ['output', 'parsed'],
  parallel: ['output', 'results'],
  groupChat: ['output', 'transcript', 'rounds'],
  review: ['output', 'verdict', 'approved', 'iterations'],
  approval: ['output', 'approved', 'comment', 'by'],
};
