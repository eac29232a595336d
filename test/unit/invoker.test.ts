/**
 * The Invoker and FunctionRegistry, driven with a real app (test/fixtures/apps/hooks-app) loaded through
 * @azure/functions v4: hooks, input providers, responses and errors, as the Node worker runs them.
 */
import * as path from 'node:path';
import { loadApp } from '../../src/local-host/app-loader';
import {
  FunctionRegistry,
  type LogCategory,
  type LogLevel,
  type RpcTypedData,
} from '../../src/local-host/worker/core';
import { Invoker, toError, type InvocationRequest } from '../../src/local-host/worker/invoker';
import type { HooksAppState } from '../fixtures/apps/hooks-app';

const APP_DIR = path.resolve(__dirname, '../fixtures/apps/hooks-app');
const registry = loadApp(APP_DIR, new FunctionRegistry()).registry;
const state = (globalThis as { __hooksApp?: HooksAppState }).__hooksApp!;

interface LogLine {
  level: LogLevel;
  category: LogCategory;
  message: string;
  functionName?: string;
}
let logs: LogLine[];
let invoker: Invoker;

beforeEach(() => {
  state.events.length = 0;
  state.post.length = 0;
  state.appStart.length = 0;
  state.appTerminate.length = 0;
  logs = [];
  invoker = new Invoker(registry, {
    appDir: APP_DIR,
    log: (level, category, message, functionName) => logs.push({ level, category, message, functionName }),
  });
});

function invoke(name: string, req: InvocationRequest = {}) {
  const reg = registry.get(name);
  if (!reg) throw new Error(`fixture function ${name} is not registered`);
  return invoker.invoke(reg, req);
}
const json = (value: unknown): RpcTypedData => ({ json: JSON.stringify(value) });

describe('loading the fixture app', () => {
  test('registers every function with its trigger and a programming model', () => {
    expect([...registry.functions.values()].map((r) => r.name).sort()).toEqual(
      [
        'echo',
        'errorReplaced',
        'fails',
        'hello',
        'hookThrows',
        'recovered',
        'rewritten',
        'swapped',
        'unconvertible',
        'withBlob',
      ].sort(),
    );
    expect(registry.programmingModel?.name).toBe('@azure/functions');
    expect(registry.get('echo')!.trigger).toMatchObject({ type: 'echoTrigger', direction: 'in' });
    expect(registry.hooksNamed('preInvocation')).toHaveLength(1);
    expect(registry.hooksNamed('postInvocation')).toHaveLength(1);
  });
});

describe('invoke', () => {
  test('runs preInvocation, the handler, then postInvocation, and converts the result', async () => {
    const res = await invoke('echo', { trigger: json({ n: 1 }), invocationId: 'inv-1' });
    expect(state.events).toEqual(['pre:echo', 'run:echo', 'post:echo']);
    expect(res.error).toBeUndefined();
    expect(res.invocationId).toBe('inv-1');
    expect(res.result).toEqual({ value: { n: 1 }, customIn: null, invocationId: 'inv-1', retryCount: null });
    expect(JSON.parse(res.response!.returnValue!.json!)).toEqual(res.result);
    expect(res.response!.invocationId).toBe('inv-1');
  });

  test('generates an invocation id when none is given', async () => {
    const a = await invoke('echo', { trigger: json(1) });
    const b = await invoke('echo', { trigger: json(2) });
    expect(a.invocationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.invocationId).not.toBe(b.invocationId);
  });

  test('passes the retry context to the function', async () => {
    const res = await invoke('echo', { trigger: json(0), retryContext: { retryCount: 2, maxRetryCount: 5 } });
    expect(res.result).toMatchObject({ retryCount: 2 });
  });

  test('user logs reach the log sink with the function name', async () => {
    await invoke('echo', { trigger: json(0) });
    expect(logs).toContainEqual({
      level: 'information',
      category: 'user',
      message: 'echo ran',
      functionName: 'echo',
    });
  });

  test('preInvocation sees the inputs and can replace them', async () => {
    const res = await invoke('echo', { trigger: { string: 'change-me' } });
    expect(res.result).toMatchObject({ value: 'changed by preInvocation' });
    // The hook data set in preInvocation is the same object postInvocation gets.
    expect(state.post[0]!.hookData.preSawInputs).toEqual(['change-me']);
  });

  test('preInvocation can replace the function handler', async () => {
    const res = await invoke('swapped', { trigger: json(null) });
    expect(res.result).toBe('from the replacement handler');
    expect(res.response!.returnValue).toEqual({ string: 'from the replacement handler' });
  });

  test('postInvocation sees the result and can replace it', async () => {
    const res = await invoke('rewritten', { trigger: json(null) });
    expect(state.post[0]).toMatchObject({
      functionName: 'rewritten',
      result: 'original result',
      error: null,
    });
    expect(res.result).toEqual({ rewritten: true, original: 'original result' });
    expect(JSON.parse(res.response!.returnValue!.json!)).toEqual(res.result);
  });

  test('a throwing handler gives an error result, and postInvocation sees the error', async () => {
    const res = await invoke('fails', { trigger: json(null) });
    expect(state.events).toEqual(['pre:fails', 'post:fails']);
    expect(res.error).toBeInstanceOf(Error);
    expect(res.error!.message).toBe('handler failed');
    expect(res.result).toBeUndefined();
    expect(res.response).toBeUndefined();
    expect((state.post[0]!.error as Error).message).toBe('handler failed');
    expect(state.post[0]!.result).toBeNull();
  });

  test('postInvocation can clear the error and supply a result', async () => {
    const res = await invoke('recovered', { trigger: json(null) });
    expect(res.error).toBeUndefined();
    expect(res.result).toBe('recovered by postInvocation');
    expect(res.response!.returnValue).toEqual({ string: 'recovered by postInvocation' });
  });

  test('postInvocation can replace the error', async () => {
    const res = await invoke('errorReplaced', { trigger: json(null) });
    expect(res.error!.message).toBe('replaced by postInvocation');
  });

  test('an error thrown by a postInvocation hook fails the invocation', async () => {
    const res = await invoke('hookThrows', { trigger: json(null) });
    expect(res.error!.message).toBe('postInvocation hook threw');
    expect(res.response).toBeUndefined();
  });

  test('a result the library cannot convert is an error, with the result kept', async () => {
    const res = await invoke('unconvertible', { trigger: json(null) });
    expect(res.error).toBeInstanceOf(Error);
    expect(res.error!.message).toMatch(/BigInt/);
    expect(res.result).toEqual({ big: BigInt(1) });
    expect(res.response).toBeUndefined();
  });

  test('an HTTP function gets the request and returns an HTTP response', async () => {
    const url = 'http://127.0.0.1:7071/api/hello?name=Ann';
    const res = await invoke('hello', {
      trigger: {
        http: { method: 'GET', url, headers: {}, query: { name: 'Ann' }, params: {}, identities: [] },
      },
    });
    expect(res.error).toBeUndefined();
    const http = res.response!.returnValue!.http!;
    expect(http.statusCode).toBe('201');
    expect(JSON.parse(String(http.body!.string ?? Buffer.from(http.body!.bytes!).toString()))).toEqual({
      hello: 'Ann',
    });
  });

  test('fails clearly when the registry has no programming model', async () => {
    const bare = new FunctionRegistry();
    bare.coreApi.registerFunction(
      { name: 'f', bindings: { t: { type: 'fooTrigger', direction: 'in' } } },
      () => 1,
    );
    const inv = new Invoker(bare, { appDir: APP_DIR, log: () => undefined });
    await expect(inv.invoke(bare.get('f')!, {})).rejects.toThrow(/did not set a programming model/);
  });
});

describe('input bindings', () => {
  test('provideInput supplies the value of an extra input binding', async () => {
    const seen: string[] = [];
    invoker.provideInput('CustomInput', (binding, reg) => {
      seen.push(`${reg.name}:${binding.name}`);
      return json({ provided: true });
    });
    const res = await invoke('echo', { trigger: json(1) });
    expect(res.result).toMatchObject({ customIn: { provided: true } });
    expect(seen).toEqual(['echo:customIn']);
    expect(logs.filter((l) => l.level === 'warning')).toEqual([]);
  });

  test('an unsupported input binding logs one warning per function and type, and the function still runs', async () => {
    const first = await invoke('withBlob', { trigger: json(1) });
    await invoke('withBlob', { trigger: json(2) });
    expect(first.error).toBeUndefined();
    const warnings = logs.filter((l) => l.level === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ category: 'system', functionName: 'withBlob' });
    expect(warnings[0]!.message).toBe(
      "Input binding type 'blob' of function 'withBlob' is not provided by the local host; the function gets no value for it.",
    );
  });
});

describe('app hooks', () => {
  test('appStart and appTerminate hooks run', async () => {
    await invoker.runAppHooks('appStart');
    await invoker.runAppHooks('appTerminate');
    expect(state.events).toEqual(['appStart', 'appTerminate']);
  });

  test('app hooks get the function app directory, and appHookData is shared with invocation hooks', async () => {
    const seen: Record<string, unknown>[] = [];
    const disposables = [
      registry.coreApi.registerHook('appStart', (ctx) => {
        seen.push({ hook: 'appStart', dir: ctx.functionAppDirectory });
        (ctx.appHookData as Record<string, unknown>).fromStart = 42;
      }),
      registry.coreApi.registerHook('preInvocation', (ctx) => {
        seen.push({ hook: 'pre', fromStart: (ctx.appHookData as Record<string, unknown>).fromStart });
      }),
      registry.coreApi.registerHook('appTerminate', (ctx) => {
        seen.push({ hook: 'appTerminate', dir: ctx.functionAppDirectory });
      }),
    ];
    try {
      await invoker.runAppHooks('appStart');
      await invoke('echo', { trigger: json(0) });
      await invoker.runAppHooks('appTerminate');
    } finally {
      for (const d of disposables) d.dispose();
    }
    expect(seen).toEqual([
      { hook: 'appStart', dir: APP_DIR },
      { hook: 'pre', fromStart: 42 },
      { hook: 'appTerminate', dir: APP_DIR },
    ]);
  });

  // Bug: invoker.ts runAppHooks passes a fresh `hookData: {}` to every app hook call. The Node worker
  // (startApp.ts / terminateWorker.ts) passes one app-level `hookData` object to appStart and
  // appTerminate, so data an appStart hook puts in `context.hookData` is there for appTerminate.
  test('hookData set by appStart is seen by appTerminate', async () => {
    await invoker.runAppHooks('appStart');
    await invoker.runAppHooks('appTerminate');
    expect(state.appStart[0]!.hookData).toEqual({ startedBy: 'appStart' });
    expect(state.appTerminate[0]!.hookData).toEqual({ startedBy: 'appStart' });
  });
});

describe('FunctionRegistry', () => {
  const bindings = { t: { type: 'fooTrigger', direction: 'in' as const } };

  test('get is case-insensitive', () => {
    expect(registry.get('ECHO')).toBe(registry.get('echo'));
    expect(registry.get('Echo')!.name).toBe('echo');
    expect(registry.get('missing')).toBeUndefined();
  });

  test('byTrigger lists the functions of a trigger type, case-insensitively', () => {
    expect(
      registry
        .byTrigger('FAILTRIGGER')
        .map((r) => r.name)
        .sort(),
    ).toEqual(['errorReplaced', 'fails', 'recovered']);
    expect(registry.byTrigger('httpTrigger').map((r) => r.name)).toEqual(['hello']);
    expect(registry.byTrigger('queueTrigger')).toEqual([]);
  });

  test('a second function with the same name, in any case, is rejected', () => {
    expect(() => registry.coreApi.registerFunction({ name: 'ECHO', bindings }, () => undefined)).toThrow(
      'A function with the name "ECHO" has already been registered.',
    );
  });

  test.each(['agent:architect', '1st', 'has space', 'a'.repeat(129)])(
    "a name the Functions host would refuse ('%s') is refused at registration",
    (name) => {
      const r = new FunctionRegistry();
      expect(() => r.coreApi.registerFunction({ name, bindings }, () => undefined)).toThrow(
        /must begin with a letter and contain only letters, digits, '_' and '-'/,
      );
    },
  );

  test('a function needs a name and a trigger binding', () => {
    const r = new FunctionRegistry();
    expect(() => r.coreApi.registerFunction({ name: '', bindings }, () => undefined)).toThrow(
      /a function name is required/,
    );
    expect(() =>
      r.coreApi.registerFunction(
        { name: 'noTrigger', bindings: { b: { type: 'blob', direction: 'in' } } },
        () => undefined,
      ),
    ).toThrow('Function "noTrigger" has no trigger binding.');
    // An output binding whose type ends in "Trigger" is not the trigger.
    expect(() =>
      r.coreApi.registerFunction(
        { name: 'outOnly', bindings: { o: { type: 'fooTrigger', direction: 'out' } } },
        () => undefined,
      ),
    ).toThrow(/has no trigger binding/);
  });

  test('the Disposable from registerFunction removes the function, once', () => {
    const r = new FunctionRegistry();
    const d = r.coreApi.registerFunction({ name: 'Temp', bindings }, () => undefined);
    expect(r.get('temp')?.triggerName).toBe('t');
    d.dispose();
    expect(r.get('temp')).toBeUndefined();
    // The name is free again, and disposing twice does not remove the new registration.
    r.coreApi.registerFunction({ name: 'temp', bindings }, () => undefined);
    d.dispose();
    expect(r.get('temp')).toBeDefined();
  });

  test('the Disposable from registerHook removes that hook only', () => {
    const r = new FunctionRegistry();
    const a = (): void => undefined;
    const b = (): void => undefined;
    const da = r.coreApi.registerHook('preInvocation', a);
    r.coreApi.registerHook('preInvocation', b);
    da.dispose();
    expect(r.hooksNamed('preInvocation')).toEqual([b]);
  });

  test('Disposable.from disposes every item', () => {
    const r = new FunctionRegistry();
    const d1 = r.coreApi.registerFunction({ name: 'one', bindings }, () => undefined);
    const d2 = r.coreApi.registerFunction({ name: 'two', bindings }, () => undefined);
    r.coreApi.Disposable.from(d1, d2).dispose();
    expect(r.functions.size).toBe(0);
  });

  test('core log calls go to the log sink', () => {
    const r = new FunctionRegistry();
    const lines: string[] = [];
    r.logSink = (level, category, message) => lines.push(`${level}/${category}/${message}`);
    r.coreApi.log('warning', 'system', 'careful');
    expect(lines).toEqual(['warning/system/careful']);
  });
});

describe('toError', () => {
  test('keeps Error instances', () => {
    const e = new TypeError('t');
    expect(toError(e)).toBe(e);
  });

  test('wraps strings as the message', () => {
    expect(toError('plain text').message).toBe('plain text');
  });

  test('serialises objects as JSON', () => {
    expect(toError({ code: 42, why: 'x' }).message).toBe('{"code":42,"why":"x"}');
    expect(toError(null).message).toBe('null');
  });

  test('falls back to String() for values JSON cannot serialise', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(toError(circular).message).toBe('[object Object]');
    expect(toError(BigInt(7)).message).toBe('7');
  });
});
