/** The parts of host.json the local host honours, with the Functions host's defaults. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface HostJson {
  version?: string;
  extensions?: {
    http?: { routePrefix?: string };
    durableTask?: {
      hubName?: string;
      maxConcurrentActivityFunctions?: number;
      maxConcurrentOrchestratorFunctions?: number;
      maxConcurrentEntityFunctions?: number;
      extendedSessionsEnabled?: boolean;
      [k: string]: unknown;
    };
    serviceBus?: {
      maxConcurrentCalls?: number;
      autoCompleteMessages?: boolean;
      maxDeliveryCount?: number;
      maxAutoLockRenewalDuration?: string;
      [k: string]: unknown;
    };
    [k: string]: unknown;
  };
  functionTimeout?: string;
  [k: string]: unknown;
}

/** Reads host.json (comments allowed, as the Functions host allows them). A missing file is `{}`. */
export function readHostJson(appDir: string): HostJson {
  const file = path.join(appDir, 'host.json');
  if (!fs.existsSync(file)) return {};
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(stripJsonComments(text)) as HostJson;
  } catch (err) {
    throw new Error(`host.json is not valid JSON (${file}): ${(err as Error).message}`);
  }
}

export function stripJsonComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      i += 2;
      while (i < text.length && !(text[i] === '*' && text[i + 1] === '/')) i++;
      i++;
    } else out += c;
  }
  return out;
}

/** "hh:mm:ss" or "d.hh:mm:ss" (TimeSpan) → milliseconds. */
export function parseTimeSpan(value: string | undefined, fallbackMs: number): number {
  if (!value) return fallbackMs;
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value.trim());
  if (!m) return fallbackMs;
  const [, d, h, mi, s, frac] = m;
  return (
    ((Number(d ?? 0) * 24 + Number(h)) * 3600 + Number(mi) * 60 + Number(s)) * 1000 +
    (frac ? Math.round(Number(`0.${frac}`) * 1000) : 0)
  );
}

/** Resolves `%NAME%` app-setting references in a binding option, as the Functions host does. */
export function resolveSettingRefs(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/%([^%]+)%/g, (whole, name: string) => {
    const v = env[name];
    if (v === undefined) throw new Error(`The app setting '${name}' referenced as '${whole}' is not set.`);
    return v;
  });
}
