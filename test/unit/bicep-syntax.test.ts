/**
 * CI validation of bicep/ without a compiler: every file parses with tree-sitter-bicep, the files it
 * names exist, and azd finds the template (azure.yaml, main.parameters.json).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  BICEP_DIR,
  REPO_ROOT,
  bicepFiles,
  byKind,
  calledFunctions,
  childrenOf,
  declaration,
  declarations,
  descendants,
  evaluate,
  initBicep,
  loadBicep,
  parseBicep,
  prop,
  properties,
  stringOf,
  syntaxProblems,
  Unresolved,
} from '../helpers/bicep';

const files = bicepFiles();

beforeAll(initBicep);

test('bicep/ holds main.bicep and its modules', () => {
  expect(files).toContain('main.bicep');
  expect(files.filter((f) => f.startsWith('modules/')).length).toBeGreaterThanOrEqual(8);
});

test.each(files)('%s parses without syntax errors', (name) => {
  expect(syntaxProblems(loadBicep(name))).toEqual([]);
});

describe('the syntax check rejects broken bicep', () => {
  it.each([
    ['an unclosed object', "resource r 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'x'\n"],
    ['a parameter without a type', 'param name\n'],
    ['a variable without a value', 'var x =\n'],
    ['a property without a value', 'var o = {\n  a:\n}\n'],
    ['an unterminated string', "var s = 'abc\n"],
    ['a misspelt keyword', 'parm name string\n'],
    ['a stray operator', "var o = {\n  name: 'x' ++\n}\n"],
    ['a resource without a body', "resource r 'Microsoft.Web/sites@2024-04-01' =\n"],
    ['two declarations on one line', 'var a = 1 var b = 2\n'],
  ])('%s', (_what, source) => {
    const problems = syntaxProblems(parseBicep(source));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/^<snippet>:\d+:\d+: /);
  });

  it('and accepts what the files use: decorators, loops, conditions, imports, multi-line strings', () => {
    const ok = parseBicep(
      [
        "import { t } from 'modules/x.bicep'",
        "@description('it\\'s')",
        '@minValue(1)',
        'param n int = 2',
        "var q = '''",
        'customEvents | where name == "x"',
        "'''",
        "resource r 'A.B/c@2020-01-01' = [for (x, i) in range(0, n): if (i > 0) {",
        "  name: 'r${i}'",
        '}]',
        "output o string = r[0].?id ?? ''",
      ].join('\n'),
    );
    expect(syntaxProblems(ok)).toEqual([]);
    expect(declaration(ok, 'param', 'n').decorators).toEqual(['description', 'minValue']);
    expect(evaluate(declaration(ok, 'param', 'n').value!)).toBe(2);
    expect(evaluate(declaration(ok, 'var', 'q').value!)).toBe('customEvents | where name == "x"\n');
    const r = declaration(ok, 'resource', 'r');
    expect(r).toMatchObject({ ref: 'A.B/c', loop: true, existing: false });
    expect(evaluate(prop(r.body, 'name')!)).toBeInstanceOf(Unresolved);
  });
});

test('the evaluator follows variables, parameters, arithmetic and ternaries', () => {
  const file = parseBicep(
    [
      'param hours int',
      'var seconds = hours > 0 ? hours * 3600 : -1',
      "var label = 'ttl-${seconds}'",
      "var o = {\n  'a-b': seconds\n  c: [\n    true\n    null\n  ]\n}",
    ].join('\n'),
  );
  const value = (name: string, hours: number) =>
    evaluate(declaration(file, 'var', name).value!, { file, env: { hours } });
  expect(value('seconds', 2)).toBe(7200);
  expect(value('seconds', 0)).toBe(-1);
  expect(value('label', 1)).toBe('ttl-3600');
  expect(value('o', 1)).toEqual({ 'a-b': 3600, c: [true, null] });
  expect(evaluate(declaration(file, 'var', 'seconds').value!, { file })).toBeInstanceOf(Unresolved);
});

test('every module, import and loaded file a bicep file names exists', () => {
  for (const name of files) {
    const file = loadBicep(name);
    const dir = path.dirname(path.join(BICEP_DIR, name));
    const named = [
      ...byKind(file, 'module').map((m) => m.ref!),
      ...childrenOf(file.root)
        .filter((n) => n.type === 'import_functionality')
        .map((n) => stringOf(childrenOf(n).find((c) => c.type === 'string')!)),
      ...descendants(file.root)
        .filter((n) => n.type === 'call_expression' && /^load\w+Content$/.test(calledFunctions(n)[0] ?? ''))
        .map((n) => stringOf(childrenOf(n.childForFieldName('arguments')!)[0]!)),
    ];
    for (const ref of named) expect(fs.existsSync(path.join(dir, ref)) ? ref : `${name}: ${ref}`).toBe(ref);
  }
});

/** What a module declaration may contain. */
const MODULE_KEYS = ['name', 'scope', 'params', 'dependsOn'];

test('modules get exactly the parameters they declare, and every required one', () => {
  const main = loadBicep('main.bicep');
  for (const m of byKind(main, 'module')) {
    const module = loadBicep(m.ref!);
    const params = byKind(module, 'param');
    expect({
      module: m.ref,
      keys: [...properties(m.body).keys()].filter((k) => !MODULE_KEYS.includes(k)),
    }).toEqual({
      module: m.ref,
      keys: [],
    });
    const given = [...properties(prop(m.body, 'params')).keys()];
    expect({ module: m.ref, unknown: given.filter((g) => !params.some((p) => p.name === g)) }).toEqual({
      module: m.ref,
      unknown: [],
    });
    const required = params.filter((p) => !p.value).map((p) => p.name);
    expect({ module: m.ref, missing: required.filter((r) => !given.includes(r)) }).toEqual({
      module: m.ref,
      missing: [],
    });
  }
});

test('main.parameters.json sets only declared parameters, and every required one', () => {
  const main = loadBicep('main.bicep');
  const params = byKind(main, 'param');
  const file = JSON.parse(fs.readFileSync(path.join(BICEP_DIR, 'main.parameters.json'), 'utf8')) as {
    parameters: Record<string, { value: unknown }>;
  };
  const set = Object.keys(file.parameters);
  expect(set.filter((s) => !params.some((p) => p.name === s))).toEqual([]);
  expect(params.filter((p) => !p.value && !set.includes(p.name)).map((p) => p.name)).toEqual([]);
  expect(file.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
  expect(file.parameters.location?.value).toBe('${AZURE_LOCATION}');
});

test('azure.yaml points azd at bicep/main.bicep and deploys the app as a function', () => {
  const azd = parseYaml(fs.readFileSync(path.join(REPO_ROOT, 'azure.yaml'), 'utf8')) as {
    infra: { provider: string; path: string; module?: string };
    services: Record<string, { project: string; host: string; language: string }>;
  };
  expect(azd.infra).toMatchObject({ provider: 'bicep', path: 'bicep' });
  expect(fs.existsSync(path.join(REPO_ROOT, azd.infra.path, `${azd.infra.module ?? 'main'}.bicep`))).toBe(
    true,
  );
  expect(azd.services.api).toMatchObject({ project: '.', host: 'function' });
  expect(['js', 'ts']).toContain(azd.services.api?.language);
  expect(fs.existsSync(path.join(REPO_ROOT, azd.services.api!.project, 'package.json'))).toBe(true);
  // azd finds the app to deploy to by this tag.
  const site = declarations(loadBicep('modules/functionapp.bicep')).find(
    (d) => d.ref === 'Microsoft.Web/sites',
  );
  expect(prop(site?.body, 'tags')?.text).toMatch(/'azd-service-name': 'api'/);
});
