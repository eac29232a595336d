/** App folder loading: entry-file globs, package.json errors, local.settings.json, and loadApp itself. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyLocalSettings, expandGlob, loadApp, resolveEntryFiles } from '../../src/local-host/app-loader';
import { FunctionRegistry } from '../../src/local-host/worker/core';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lh-app-loader-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(rel: string, text = ''): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}
const rel = (files: string[]): string[] => files.map((f) => path.relative(dir, f).split(path.sep).join('/'));

describe('expandGlob', () => {
  beforeEach(() => {
    for (const f of [
      'dist/index.js',
      'dist/src/functions/a.js',
      'dist/src/functions/b.js',
      'dist/src/functions/c.ts',
      'dist/src/functions/nested/d.js',
      'dist/node_modules/lib/index.js',
      'file1.js',
      'file2.js',
      'file10.js',
    ]) {
      write(f);
    }
  });

  test('a plain path gives that file', () => {
    expect(rel(expandGlob(dir, 'dist/index.js'))).toEqual(['dist/index.js']);
    expect(rel(expandGlob(dir, './dist/index.js'))).toEqual(['dist/index.js']);
    expect(expandGlob(dir, 'dist/index.js')[0]).toBe(path.join(dir, 'dist', 'index.js'));
  });

  test('a plain path to a missing file or a folder gives nothing', () => {
    expect(expandGlob(dir, 'dist/missing.js')).toEqual([]);
    expect(expandGlob(dir, 'dist/src')).toEqual([]);
  });

  test('* matches within one folder only', () => {
    expect(rel(expandGlob(dir, 'dist/src/functions/*.js'))).toEqual([
      'dist/src/functions/a.js',
      'dist/src/functions/b.js',
    ]);
  });

  test('** matches any depth, including none, and skips node_modules', () => {
    expect(rel(expandGlob(dir, 'dist/**/*.js'))).toEqual([
      'dist/index.js',
      'dist/src/functions/a.js',
      'dist/src/functions/b.js',
      'dist/src/functions/nested/d.js',
    ]);
  });

  test('? matches exactly one character', () => {
    expect(rel(expandGlob(dir, 'file?.js'))).toEqual(['file1.js', 'file2.js']);
  });

  test('{a,b} matches either alternative', () => {
    expect(rel(expandGlob(dir, 'dist/src/functions/{a,c}.*'))).toEqual([
      'dist/src/functions/a.js',
      'dist/src/functions/c.ts',
    ]);
    expect(rel(expandGlob(dir, 'dist/src/functions/*.{js,ts}'))).toEqual([
      'dist/src/functions/a.js',
      'dist/src/functions/b.js',
      'dist/src/functions/c.ts',
    ]);
  });

  test('dots in the pattern are literal', () => {
    write('fileXjs');
    expect(rel(expandGlob(dir, 'file?.js'))).not.toContain('fileXjs');
    expect(rel(expandGlob(dir, 'file*js'))).toContain('fileXjs');
  });

  test('backslash separators are accepted', () => {
    expect(rel(expandGlob(dir, 'dist\\src\\functions\\*.js'))).toEqual([
      'dist/src/functions/a.js',
      'dist/src/functions/b.js',
    ]);
  });

  test('a glob that matches nothing, or under a missing folder, gives nothing', () => {
    expect(expandGlob(dir, 'dist/*.mjs')).toEqual([]);
    expect(expandGlob(dir, 'nowhere/**/*.js')).toEqual([]);
  });
});

describe('resolveEntryFiles', () => {
  test('no package.json is an error', () => {
    expect(() => resolveEntryFiles(dir)).toThrow(/No package\.json in .*: is this a Functions app folder\?/);
  });

  test('a package.json without main is an error', () => {
    write('package.json', JSON.stringify({ name: 'x' }));
    expect(() => resolveEntryFiles(dir)).toThrow(/has no "main"/);
  });

  test('a main that matches nothing is an error suggesting a build', () => {
    write('package.json', JSON.stringify({ main: 'dist/src/functions/*.js' }));
    expect(() => resolveEntryFiles(dir)).toThrow(
      /"main" \(dist\/src\/functions\/\*\.js\) matches no file .*npm run build/,
    );
  });

  test('returns the files main matches', () => {
    write('package.json', JSON.stringify({ main: 'dist/*.js' }));
    write('dist/one.js');
    write('dist/two.js');
    expect(rel(resolveEntryFiles(dir))).toEqual(['dist/one.js', 'dist/two.js']);
  });
});

describe('applyLocalSettings', () => {
  test('no local.settings.json changes nothing', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(applyLocalSettings(dir, env)).toEqual({});
    expect(env).toEqual({});
  });

  test('applies Values without overriding what is already set', () => {
    write(
      'local.settings.json',
      `{
        // comments are allowed
        "IsEncrypted": false,
        "Values": { "A": "from-file", "B": "from-file", "N": 5 },
        "Host": { "LocalHttpPort": 7072 }
      }`,
    );
    const env: NodeJS.ProcessEnv = { A: 'already', EMPTY: '' };
    const settings = applyLocalSettings(dir, env);
    expect(env).toEqual({ A: 'already', B: 'from-file', N: '5', EMPTY: '' });
    expect(settings.Host?.LocalHttpPort).toBe(7072);
  });

  test('an empty existing value is not overridden', () => {
    write('local.settings.json', JSON.stringify({ Values: { E: 'x' } }));
    const env: NodeJS.ProcessEnv = { E: '' };
    applyLocalSettings(dir, env);
    expect(env.E).toBe('');
  });

  test('a file without Values is accepted', () => {
    write('local.settings.json', '{ "IsEncrypted": false }');
    const env: NodeJS.ProcessEnv = {};
    expect(applyLocalSettings(dir, env)).toEqual({ IsEncrypted: false });
    expect(env).toEqual({});
  });

  test('invalid JSON is reported with the file name', () => {
    write('local.settings.json', '{ "Values": { "A": } }');
    expect(() => applyLocalSettings(dir, {})).toThrow(
      /local\.settings\.json is not valid JSON \(.*local\.settings\.json\)/,
    );
  });
});

describe('loadApp', () => {
  test('an entry file that registers nothing is a clear error naming it', () => {
    write('package.json', JSON.stringify({ main: 'dist/empty.js' }));
    write('dist/empty.js', '// registers no functions\n');
    expect(() => loadApp(dir, new FunctionRegistry())).toThrow(
      /No functions were registered by dist[/\\]empty\.js\. Functions must be registered with app\.\*/,
    );
  });

  test('loads every entry file of a glob main, with host.json, into the registry', () => {
    const register = (name: string): string =>
      `require('@azure/functions-core').registerFunction(
        { name: '${name}', bindings: { req: { type: 'httpTrigger', direction: 'in' } } },
        () => '${name}');\n`;
    write('package.json', JSON.stringify({ main: 'dist/fn-*.js' }));
    write('dist/fn-a.js', register('alpha'));
    write('dist/fn-b.js', register('beta'));
    write('host.json', '{ "version": "2.0" /* c */ }');
    const registry = new FunctionRegistry();
    const app = loadApp(dir, registry);
    expect(app.appDir).toBe(path.resolve(dir));
    expect(rel(app.entryFiles)).toEqual(['dist/fn-a.js', 'dist/fn-b.js']);
    expect(app.hostJson).toEqual({ version: '2.0' });
    expect(app.registry).toBe(registry);
    expect([...registry.functions.values()].map((r) => r.name)).toEqual(['alpha', 'beta']);
  });

  test('an invalid host.json stops loading before any entry runs', () => {
    write('package.json', JSON.stringify({ main: 'index.js' }));
    write('index.js', 'globalThis.__lhLoaderRan = true;');
    write('host.json', '{ nope');
    expect(() => loadApp(dir, new FunctionRegistry())).toThrow(/host\.json is not valid JSON/);
    expect((globalThis as { __lhLoaderRan?: boolean }).__lhLoaderRan).toBeUndefined();
  });
});
