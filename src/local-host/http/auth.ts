/**
 * Function keys for `authLevel: 'function' | 'admin'` HTTP triggers.
 *
 * The local host keeps no key store: keys come from two app settings (local.settings.json `Values` or
 * the environment), read on every request so they can be changed without a restart:
 * - `LOCAL_HOST_MASTER_KEY`: the master key, accepted for `admin` (and `system`) and `function` levels;
 * - `LOCAL_HOST_FUNCTION_KEY`: a key accepted for `function` level by every function.
 * A key is passed like in Azure: in the `x-functions-key` header or the `code` query parameter.
 * With no key configured, non-anonymous functions answer 401 and the message names the settings.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const MASTER_KEY_SETTING = 'LOCAL_HOST_MASTER_KEY';
export const FUNCTION_KEY_SETTING = 'LOCAL_HOST_FUNCTION_KEY';

export type AuthResult = { ok: true } | { ok: false; detail: string };

/** The key a request presents, header first (like the Functions host). */
export function presentedKey(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers['x-functions-key'];
  const value = Array.isArray(header) ? header[0] : header;
  return value || url.searchParams.get('code') || undefined;
}

export function authorize(
  authLevel: string,
  req: IncomingMessage,
  url: URL,
  env: NodeJS.ProcessEnv,
  functionName: string,
): AuthResult {
  const level = authLevel.toLowerCase();
  if (level === 'anonymous') return { ok: true };
  const adminOnly = level === 'admin' || level === 'system';
  const settings = adminOnly ? [MASTER_KEY_SETTING] : [MASTER_KEY_SETTING, FUNCTION_KEY_SETTING];
  const keys = settings.map((s) => env[s]).filter((k): k is string => typeof k === 'string' && k !== '');
  if (keys.length === 0) {
    return {
      ok: false,
      detail:
        `Function '${functionName}' has authLevel '${level}' and no key is configured: set ` +
        `${settings.join(' or ')} in local.settings.json Values (or the environment), then pass it in the ` +
        `x-functions-key header or the code query parameter.`,
    };
  }
  const key = presentedKey(req, url);
  if (key === undefined) {
    return {
      ok: false,
      detail: `Function '${functionName}' has authLevel '${level}': pass a key in the x-functions-key header or the code query parameter.`,
    };
  }
  if (!keys.some((k) => sameKey(k, key))) {
    return {
      ok: false,
      detail: `The key is not valid for function '${functionName}' (authLevel '${level}').`,
    };
  }
  return { ok: true };
}

/** Constant-time comparison; hashing first hides the key length too. */
function sameKey(expected: string, actual: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(actual));
}
