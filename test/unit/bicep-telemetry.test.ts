/**
 * The operators' dashboard and the alert rules query our telemetry by name: every span, metric, event
 * and dimension they use must exist in docs/telemetry.md and src/telemetry/names.ts, in the table it
 * lands in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ATTR, EVENTS, GEN_AI, METRICS, SPANS } from '../../src/telemetry/names';
import {
  BICEP_DIR,
  REPO_ROOT,
  byKind,
  declaration,
  evaluate,
  initBicep,
  loadBicep,
  prop,
  stringOf,
  type BicepFile,
} from '../helpers/bicep';

const docs = fs.readFileSync(path.join(REPO_ROOT, 'docs/telemetry.md'), 'utf8');
const documented = new Set([...docs.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!));

/** Which names belong in which Application Insights table. */
const NAMES_BY_TABLE: Record<string, string[]> = {
  dependencies: Object.values(SPANS),
  customMetrics: Object.values(METRICS),
  customEvents: Object.values(EVENTS),
  exceptions: [],
};
const KEYS: string[] = [...Object.values(ATTR), ...Object.values(GEN_AI)];
/** Keys docs/telemetry.md lists that names.ts does not (yet) export: src/telemetry/workflow.ts writes them. */
const DOCS_ONLY_KEYS = ['error.message'];

interface WorkbookItem {
  type: number;
  name: string;
  content: {
    query?: string;
    items?: WorkbookItem[];
    resourceIds?: string[];
    metrics?: { namespace: string; metric: string }[];
  };
}
const workbookText = fs.readFileSync(path.join(BICEP_DIR, 'modules/workbook.json'), 'utf8');
const workbook = JSON.parse(workbookText) as {
  version: string;
  items: WorkbookItem[];
  fallbackResourceIds: string[];
};
const flatten = (items: WorkbookItem[]): WorkbookItem[] =>
  items.flatMap((i) => [i, ...flatten(i.content.items ?? [])]);
const items = flatten(workbook.items);
const workbookQueries = items
  .filter((i) => i.type === 3)
  .map((i) => [`workbook ${i.name}`, i.content.query!] as const);

let alerts: BicepFile;
beforeAll(async () => {
  await initBicep();
  alerts = loadBicep('modules/alerts.bicep');
});
const alertQueries = () =>
  ['failureRateQuery', 'runLatencyQuery'].map(
    (name) => [`alert ${name}`, stringOf(declaration(alerts, 'var', name).value!)] as const,
  );

/** The names a KQL query uses: its table, `name ==` / `name in (...)` values, dimension and measurement keys. */
function namesIn(kql: string) {
  const table = /^\s*(\w+)/.exec(kql)?.[1] ?? '';
  const quoted = (s: string) => [...s.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  const names = [
    ...[...kql.matchAll(/\bname\s*(?:==|=~|!=)\s*("[^"]*")/g)].flatMap((m) => quoted(m[1]!)),
    ...[...kql.matchAll(/\bname\s+in\s*\(([^)]*)\)/g)].flatMap((m) => quoted(m[1]!)),
  ];
  const keys = [...kql.matchAll(/custom(?:Dimensions|Measurements)\["([^"]+)"\]/g)].map((m) => m[1]!);
  return { table, names, keys };
}

/**
 * What is wrong with a query's names: a table our telemetry does not land in, a span, metric or event
 * name that is not that table's (names.ts) or not documented, an unknown or undocumented dimension key,
 * or a dotted key read as a property (it must be indexed: `customDimensions["agent.type"]`).
 */
function problemsIn(where: string, kql: string): string[] {
  const { table, names, keys } = namesIn(kql);
  const problems: string[] = [];
  if (!(table in NAMES_BY_TABLE)) problems.push(`${where}: table ${table} holds none of our telemetry`);
  for (const name of names) {
    if (!NAMES_BY_TABLE[table]?.includes(name)) problems.push(`${where}: ${name} is not a name in ${table}`);
    if (!documented.has(name)) problems.push(`${where}: ${name} is not in docs/telemetry.md`);
  }
  for (const key of keys) {
    if (!KEYS.includes(key) && !DOCS_ONLY_KEYS.includes(key))
      problems.push(`${where}: ${key} is not in names.ts`);
    if (!documented.has(key)) problems.push(`${where}: ${key} is not in docs/telemetry.md`);
  }
  if (/custom(?:Dimensions|Measurements)\.\w/.test(kql))
    problems.push(`${where}: a dimension read as a property`);
  return problems;
}

it.each(workbookQueries)('%s uses our telemetry names', (where, kql) => {
  expect(problemsIn(where, kql)).toEqual([]);
});

test('the alert queries use our telemetry names', () => {
  expect(alertQueries().flatMap(([where, kql]) => problemsIn(where, kql))).toEqual([]);
});

test('the name check finds wrong names', () => {
  expect(
    problemsIn(
      'q',
      'customEvents | where name == "workflow.run" | extend x = customDimensions["agent_kind"]',
    ),
  ).toEqual([
    'q: workflow.run is not a name in customEvents',
    'q: agent_kind is not in names.ts',
    'q: agent_kind is not in docs/telemetry.md',
  ]);
  expect(problemsIn('q', 'traces | where customDimensions.x == 1')).toHaveLength(2);
});

test('the docs-only exceptions are still needed (names.ts does not export them)', () => {
  for (const key of DOCS_ONLY_KEYS) expect(KEYS).not.toContain(key);
});

test('the workbook has the panels the issue lists', () => {
  expect(workbook.version).toBe('Notebook/1.0');
  expect(items.map((i) => i.name)).toEqual(
    expect.arrayContaining([
      'runs-per-hour',
      'success-rate',
      'run-latency',
      'step-latency',
      'agent-latency',
      'tokens-cost-by-agent',
      'tokens-cost-by-workflow',
      'tokens-cost-by-tenant',
      'queue-depth',
      'dead-letters',
      'top-errors',
    ]),
  );
  expect(new Set(items.map((i) => i.name)).size).toBe(items.length);
  const queried = new Set(workbookQueries.flatMap(([, kql]) => namesIn(kql).names));
  // Every span, metric and event the app emits shows somewhere.
  const all: string[] = [...Object.values(SPANS), ...Object.values(METRICS), ...Object.values(EVENTS)];
  expect(all.filter((n) => !queried.has(n))).toEqual([]);
});

test('queue depth and dead letters come from the Service Bus namespace the workbook is given', () => {
  const metrics = items.filter((i) => i.type === 10);
  expect(metrics.flatMap((m) => m.content.metrics!.map((x) => x.metric.split('--')[1])).sort()).toEqual([
    'ActiveMessages',
    'DeadletteredMessages',
  ]);
  for (const m of metrics) expect(m.content.resourceIds).toEqual(['__SERVICE_BUS_NAMESPACE_ID__']);
  // Every placeholder in the template is replaced by workbook.bicep.
  const placeholders = [...new Set([...workbookText.matchAll(/__[A-Z_]+__/g)].map((m) => m[0]))].sort();
  const bicep = loadBicep('modules/workbook.bicep');
  const replaced = [...bicep.source.matchAll(/replace\([^,]+,\s*'(__[A-Z_]+__)'/g)].map((m) => m[1]).sort();
  expect(replaced).toEqual(placeholders);
  expect(bicep.source).toMatch(/loadTextContent\('workbook\.json'\)/);
});

describe('alert rules', () => {
  const rule = (ref: string, column?: string) =>
    byKind(alerts, 'resource').find(
      (r) =>
        r.ref === ref &&
        (!column ||
          prop(r.body, 'properties.criteria.allOf')?.text.includes(`metricMeasureColumn: '${column}'`)),
    );

  it('failure rate and p95 run latency: log alerts over Application Insights', () => {
    for (const [column, query] of [
      ['failureRatePercent', 'failureRateQuery'],
      ['p95Ms', 'runLatencyQuery'],
    ] as const) {
      const r = rule('Microsoft.Insights/scheduledQueryRules', column);
      expect(r).toBeDefined();
      expect(prop(r!.body, 'properties.scopes')?.text).toMatch(/applicationInsightsId/);
      expect(prop(r!.body, 'properties.criteria.allOf')?.text).toMatch(new RegExp(`query: .*${query}`));
      expect(stringOf(declaration(alerts, 'var', query).value!)).toMatch(
        new RegExp(`project ${column}\\b|${column} =`),
      );
    }
    expect(stringOf(declaration(alerts, 'var', 'failureRateQuery').value!)).toMatch(/\{minimumRuns\}/);
    expect(alerts.source).toMatch(/replace\(failureRateQuery, '\{minimumRuns\}'/);
  });

  it('dead letters: any dead-lettered message on any entity', () => {
    const r = rule('Microsoft.Insights/metricAlerts')!;
    const criterion = evaluate(prop(r.body, 'properties.criteria')!, { file: alerts }) as {
      allOf: Record<string, unknown>[];
    };
    expect(criterion.allOf).toEqual([
      expect.objectContaining({
        metricNamespace: 'Microsoft.ServiceBus/namespaces',
        metricName: 'DeadletteredMessages',
        operator: 'GreaterThan',
        threshold: 0,
        dimensions: [{ name: 'EntityName', operator: 'Include', values: ['*'] }],
      }),
    ]);
    expect(prop(r.body, 'properties.scopes')?.text).toMatch(/serviceBusNamespaceId/);
  });
});
