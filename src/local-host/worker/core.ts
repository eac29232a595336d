/**
 * The `@azure/functions-core` module, as the Azure Functions Node.js worker provides it.
 *
 * `@azure/functions` v4 does `require('@azure/functions-core')` when an app registers its first
 * function; outside the real worker that fails and the library switches to a "test mode" where every
 * registration is dropped. The local host installs this module first (see `installCoreModule`), so the
 * library hands us every registration, hook and its programming model, exactly as the worker gets them.
 */
import Module from 'node:module';

export type BindingDirection = 'in' | 'out' | 'inout';

export interface RpcBindingInfo {
  type?: string | null;
  direction?: BindingDirection | null;
  name?: string;
  [option: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

/** The Functions host's rule for function names. */
export const FUNCTION_NAME = /^[a-z][a-z0-9_-]{0,127}$/i;

/** One registered function: what `registerFunction` received, plus its trigger binding. */
export interface Registration {
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  triggerName: string;
  trigger: RpcBindingInfo & { type: string };
  retryOptions?: unknown;
  callback: FunctionCallback;
}

export type HookName = 'preInvocation' | 'postInvocation' | 'appStart' | 'appTerminate' | 'log';
export type HookCallback = (context: Record<string, unknown>) => unknown;

export interface ProgrammingModelLike {
  name: string;
  version: string;
  getInvocationModel(coreCtx: unknown): InvocationModelLike | Promise<InvocationModelLike>;
  getCapabilities?(caps: Record<string, string>): Record<string, string> | Promise<Record<string, string>>;
}

export interface InvocationModelLike {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
  [k: string]: unknown;
}

export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null;
  params?: Record<string, string> | null;
  query?: Record<string, string> | null;
  statusCode?: string | null;
  cookies?: unknown[] | null;
  nullableHeaders?: Record<string, { value?: string | null }> | null;
  nullableParams?: Record<string, { value?: string | null }> | null;
  nullableQuery?: Record<string, { value?: string | null }> | null;
  identities?: unknown[] | null;
  [k: string]: unknown;
}

export interface RpcInvocationResponse {
  invocationId?: string | null;
  outputData?: { name?: string | null; data?: RpcTypedData | null }[] | null;
  returnValue?: RpcTypedData | null;
}

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type LogCategory = 'user' | 'system' | 'customMetric';
export type LogSink = (
  level: LogLevel,
  category: LogCategory,
  message: string,
  functionName?: string,
) => void;

class Disposable {
  static from(...items: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => items.forEach((d) => d.dispose()));
  }
  #onDispose: (() => unknown) | undefined;
  constructor(onDispose: () => unknown) {
    this.#onDispose = onDispose;
  }
  dispose(): unknown {
    const cb = this.#onDispose;
    this.#onDispose = undefined;
    return cb?.();
  }
}

function isTriggerType(type: string | null | undefined): boolean {
  return typeof type === 'string' && /trigger$/i.test(type);
}

/** What an app registered: functions, hooks and the programming model. */
export class FunctionRegistry {
  readonly functions = new Map<string, Registration>();
  readonly hooks: { name: string; callback: HookCallback }[] = [];
  programmingModel: ProgrammingModelLike | undefined;
  logSink: LogSink = () => undefined;

  /** The object served as `require('@azure/functions-core')`. */
  readonly coreApi = {
    version: '4.999.0-local-host',
    hostVersion: '4.1036.0-local-host',
    Disposable,
    registerFunction: (metadata: FunctionMetadata, callback: FunctionCallback): Disposable => {
      if (typeof metadata?.name !== 'string' || metadata.name === '') {
        throw new Error('registerFunction: a function name is required');
      }
      if (!FUNCTION_NAME.test(metadata.name)) {
        // The Functions host refuses such names at start-up; so does this one, before deploying.
        throw new Error(
          `The function name '${metadata.name}' is invalid: it must begin with a letter and contain only ` +
            "letters, digits, '_' and '-' (at most 128 characters).",
        );
      }
      const key = metadata.name.toLowerCase();
      if (this.functions.has(key)) {
        throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
      }
      const entry = Object.entries(metadata.bindings ?? {}).find(
        ([, b]) => isTriggerType(b.type) && b.direction !== 'out',
      );
      if (!entry) throw new Error(`Function "${metadata.name}" has no trigger binding.`);
      const [triggerName, trigger] = entry;
      this.functions.set(key, {
        name: metadata.name,
        bindings: metadata.bindings,
        triggerName,
        trigger: trigger as RpcBindingInfo & { type: string },
        retryOptions: metadata.retryOptions,
        callback,
      });
      return new Disposable(() => this.functions.delete(key));
    },
    registerHook: (name: string, callback: HookCallback): Disposable => {
      const hook = { name, callback };
      this.hooks.push(hook);
      return new Disposable(() => {
        const i = this.hooks.indexOf(hook);
        if (i >= 0) this.hooks.splice(i, 1);
      });
    },
    setProgrammingModel: (model: ProgrammingModelLike): void => {
      this.programmingModel = model;
    },
    getProgrammingModel: (): ProgrammingModelLike | undefined => this.programmingModel,
    log: (level: LogLevel, category: LogCategory, message: string): void =>
      this.logSink(level, category, message),
  };

  /** A function by name, case-insensitively (function names are case-insensitive in Azure Functions). */
  get(name: string): Registration | undefined {
    return this.functions.get(name.toLowerCase());
  }

  byTrigger(type: string): Registration[] {
    const t = type.toLowerCase();
    return [...this.functions.values()].filter((r) => r.trigger.type.toLowerCase() === t);
  }

  hooksNamed(name: HookName): HookCallback[] {
    return this.hooks.filter((h) => h.name === name).map((h) => h.callback);
  }
}

let installed: FunctionRegistry | undefined;

/**
 * Serves `require('@azure/functions-core')` from `registry`, the way the real worker does. Must run
 * before the app's first `app.*` call: the library caches a failed lookup for the life of the process.
 */
export function installCoreModule(registry: FunctionRegistry): void {
  installed = registry;
  const proto = Module.prototype as unknown as { require: (id: string) => unknown; __coreShim?: boolean };
  if (proto.__coreShim) return;
  const original = proto.require;
  proto.require = function (this: unknown, id: string): unknown {
    if (id === '@azure/functions-core') {
      if (!installed) throw new Error('Cannot find module @azure/functions-core');
      return installed.coreApi;
    }
    return original.call(this, id);
  };
  proto.__coreShim = true;
}

/** The registry currently served as `@azure/functions-core` (tests use it under jest's module mapper). */
export function currentRegistry(): FunctionRegistry | undefined {
  return installed;
}

export function setCurrentRegistry(registry: FunctionRegistry): void {
  installed = registry;
}
