/**
 * Loads a Node v4 Functions app folder: its settings (local.settings.json `Values`), host.json and
 * the entry files named by package.json `main` (a path or a glob), with `@azure/functions-core`
 * served by the local host so that every registration is captured.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readHostJson, stripJsonComments, type HostJson } from './host-json';
import { FunctionRegistry, installCoreModule } from './worker/core';

export interface LoadedApp {
  appDir: string;
  entryFiles: string[];
  hostJson: HostJson;
  registry: FunctionRegistry;
}

export interface LocalSettings {
  IsEncrypted?: boolean;
  Values?: Record<string, string>;
  Host?: { LocalHttpPort?: number; CORS?: string; CORSCredentials?: boolean };
}

/** Applies `Values` from local.settings.json to process.env without overriding what is already set. */
export function applyLocalSettings(appDir: string, env: NodeJS.ProcessEnv = process.env): LocalSettings {
  const file = path.join(appDir, 'local.settings.json');
  if (!fs.existsSync(file)) return {};
  let settings: LocalSettings;
  try {
    settings = JSON.parse(stripJsonComments(fs.readFileSync(file, 'utf8'))) as LocalSettings;
  } catch (err) {
    throw new Error(`local.settings.json is not valid JSON (${file}): ${(err as Error).message}`);
  }
  for (const [k, v] of Object.entries(settings.Values ?? {})) {
    if (env[k] === undefined) env[k] = String(v);
  }
  return settings;
}

/** The entry files of an app: package.json `main`, which may be a glob (`dist/src/functions/*.js`). */
export function resolveEntryFiles(appDir: string): string[] {
  const pkgFile = path.join(appDir, 'package.json');
  if (!fs.existsSync(pkgFile))
    throw new Error(`No package.json in ${appDir}: is this a Functions app folder?`);
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { main?: string };
  if (!pkg.main) {
    throw new Error(
      `package.json in ${appDir} has no "main": the Node v4 model loads the functions from it.`,
    );
  }
  const files = expandGlob(appDir, pkg.main);
  if (files.length === 0) {
    throw new Error(
      `package.json "main" (${pkg.main}) matches no file in ${appDir}. Did you build the app (npm run build)?`,
    );
  }
  return files;
}

/** Expands a glob with `*`, `**`, `?` and `{a,b}` relative to `dir`. */
export function expandGlob(dir: string, pattern: string): string[] {
  const norm = pattern.replace(/\\/g, '/').replace(/^\.\//, '');
  if (!/[*?{]/.test(norm)) {
    const file = path.resolve(dir, norm);
    return fs.existsSync(file) && fs.statSync(file).isFile() ? [file] : [];
  }
  const re = globToRegExp(norm);
  const fixed = norm.split('/').filter((seg, i, all) => all.slice(0, i + 1).every((s) => !/[*?{]/.test(s)));
  const root = path.resolve(dir, ...fixed);
  const out: string[] = [];
  const walk = (abs: string): void => {
    if (!fs.existsSync(abs)) return;
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const child = path.join(abs, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (re.test(path.relative(dir, child).split(path.sep).join('/'))) out.push(child);
    }
  };
  walk(root);
  return out.sort();
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      re += `(?:${glob
        .slice(i + 1, end)
        .split(',')
        .map((s) => s.replace(/[.+^$()|[\]\\]/g, '\\$&'))
        .join('|')})`;
      i = end;
    } else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Loads the app into this process. `registry` may be given to reuse one across host restarts in the
 * same process (a module is only evaluated once per process).
 */
export function loadApp(appDir: string, registry = new FunctionRegistry()): LoadedApp {
  const abs = path.resolve(appDir);
  const hostJson = readHostJson(abs);
  const entryFiles = resolveEntryFiles(abs);
  installCoreModule(registry);
  for (const file of entryFiles) {
    // Loading the app's own entry files is the point: they register functions as they load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(file);
  }
  if (registry.functions.size === 0) {
    throw new Error(
      `No functions were registered by ${entryFiles.map((f) => path.relative(abs, f)).join(', ')}. ` +
        `Functions must be registered with app.* / df.app.* from @azure/functions v4 when the entry file loads.`,
    );
  }
  return { appDir: abs, entryFiles, hostJson, registry };
}
