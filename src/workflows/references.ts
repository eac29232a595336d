/**
 * Template checks: every template of a step must parse, and every variable it reads must exist when
 * the step runs (variables.ts lists what that is). A `steps.<id>` reference must name a step the
 * step depends on, directly or not: otherwise the orchestrator may run both at once and the output
 * is not there yet, a bug that would only show in some runs.
 */
import { AgentError } from '../agents/errors';
import { compileTemplate, type TemplateReference } from '../agents/template';
import type { TemplateSource } from './loose';
import { itemsPath, type StepKind } from './steps';
import { didYouMean } from './suggest';
import { EXTRA_ROOTS, rootsOf, SITE_NAMES, STEP_OUTPUTS, type TemplateSite } from './variables';

/** What the checks need to know about the rest of the workflow. */
export interface ReferenceScope {
  /** The step being checked. */
  stepId: string;
  /** Every step id (first occurrence) and its kind, when known. */
  steps: ReadonlyMap<string, StepKind | undefined>;
  /** The direct and indirect dependencies of the step. */
  ancestors: ReadonlySet<string>;
  /** The input properties templates may read, when the input schema names them (validate.ts). */
  inputProperties?: ReadonlySet<string>;
}

type Report = (path: string, message: string) => void;

/** `when: input.ship` is checked as the template `{% if input.ship %}1{% endif %}`. */
const WHEN_PREFIX = '{% if ';
const asCondition = (expr: string): string => `${WHEN_PREFIX}${expr} %}1{% endif %}`;

/** Checks one `steps.<id>…` or `input.<name>…` path; `parts` is the path split on dots. */
export function checkPath(parts: string[], scope: ReferenceScope, at: string, report: Report): void {
  const text = parts.join('.');
  const [root, target, field] = parts;
  if (
    root === 'input' &&
    target !== undefined &&
    scope.inputProperties &&
    !scope.inputProperties.has(target)
  ) {
    const declared = [...scope.inputProperties];
    report(
      at,
      `uses '${text}', but the input schema declares no property '${target}' (it declares: ${declared.join(', ') || 'none'})${didYouMean(target, declared)}`,
    );
  }
  if (root !== 'steps') return;
  const ids = [...scope.steps.keys()];
  if (target === undefined) return report(at, "uses 'steps' without a step id; write steps.<id>.output");
  if (!scope.steps.has(target)) {
    return report(
      at,
      `uses '${text}', but there is no step '${target}' (steps: ${ids.join(', ')})${didYouMean(target, ids)}`,
    );
  }
  if (target === scope.stepId) return report(at, `uses '${text}': a step cannot read its own result`);
  if (!scope.ancestors.has(target)) {
    report(
      at,
      `uses '${text}', but '${target}' is not a dependency of '${scope.stepId}' (direct or indirect), so its ` +
        `output may not exist yet when '${scope.stepId}' runs; add '${target}' to dependsOn`,
    );
  }
  const kind = scope.steps.get(target);
  const fields = kind ? STEP_OUTPUTS[kind] : undefined;
  if (field !== undefined && fields && !fields.includes(field)) {
    report(
      at,
      `uses '${text}', but the result of ${kind} step '${target}' has no '${field}' (it has: ${fields.join(', ')})${didYouMean(field, fields)}`,
    );
  }
}

function rootProblem(ref: TemplateReference, site: TemplateSite, scope: ReferenceScope): string | undefined {
  const root = ref.path.split('.')[0]!;
  const roots = rootsOf(site);
  if (roots.includes(root)) return undefined;
  const elsewhere = (Object.entries(EXTRA_ROOTS) as [TemplateSite, readonly string[]][])
    .filter(([, extra]) => extra.includes(root))
    .map(([s]) => SITE_NAMES[s]);
  const hint = elsewhere.length
    ? `; '${root}' is only defined in ${elsewhere.join(' and ')}`
    : scope.steps.has(root)
      ? `; did you mean 'steps.${root}.output'?`
      : `; did you mean 'input.${ref.path}'?`;
  return `uses '${ref.path}', but '${root}' is not defined in ${SITE_NAMES[site]} (it can use: ${roots.join(', ')})${hint}`;
}

/** A syntax error's message; for a condition the column is the column in the condition. */
function syntaxMessage(err: AgentError, source: string, isCondition: boolean): string {
  let message = err.message;
  const m = /^Template syntax error at line (\d+), column (\d+): (.*)$/s.exec(message);
  if (isCondition && m) {
    const column = Math.min(Math.max(1, Number(m[2]) - WHEN_PREFIX.length), source.trimEnd().length + 1);
    message = `is not a valid condition: ${m[3]} (column ${column})`;
  }
  if (message.includes("unexpected character '-'")) {
    message += ". A step id with '-' is written steps['my-step'].output";
  }
  return message;
}

/** Whether a condition without variables is constant false; throws when it cannot be evaluated. */
const constantFalse = (source: string): boolean => compileTemplate(asCondition(source)).render({}) === '';

/**
 * Checks one template; returns 'never' when it is a `when` that is always false (the step never runs).
 */
export function checkTemplate(
  t: TemplateSource,
  scope: ReferenceScope,
  at: string,
  report: Report,
): 'never' | undefined {
  const isCondition = t.site === 'when';
  let refs: TemplateReference[];
  try {
    refs = compileTemplate(isCondition ? asCondition(t.source) : t.source).references;
  } catch (err) {
    if (!(err instanceof AgentError)) throw err;
    report(at, syntaxMessage(err, t.source, isCondition));
    return undefined;
  }
  for (const ref of refs) {
    const problem = rootProblem(ref, t.site, scope);
    if (problem) report(at, problem);
    else checkPath(ref.path.split('.'), scope, at, report);
  }
  if (!isCondition || refs.length) return undefined;
  try {
    if (!constantFalse(t.source)) return undefined;
  } catch (err) {
    if (!(err instanceof AgentError)) throw err;
    // Positions would point into the wrapped `{% if %}`; the problem alone is clearer.
    const problem = /^.*?: (.*) at line \d+, column \d+$/s.exec(err.message)?.[1] ?? err.message;
    report(at, `cannot be evaluated: ${problem}`);
    return undefined;
  }
  report(
    at,
    `is always false ('${t.source}'), so step '${scope.stepId}' never runs; remove the step or make the condition depend on input or steps`,
  );
  return 'never';
}

/** The forEach items path: a `steps.<id>` root must be a dependency like any template reference. */
export function checkItems(items: string, scope: ReferenceScope, at: string, report: Report): void {
  const path = itemsPath(items);
  if (path) checkPath([path.root, ...path.segments.map(String)], scope, at, report);
}
