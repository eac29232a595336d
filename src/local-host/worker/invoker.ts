/**
 * Invokes registered functions the way the Azure Functions Node.js worker does: through the app's
 * programming model (`getInvocationModel` → `getArguments` → preInvocation hooks → `invokeFunction` →
 * postInvocation hooks → `getResponse`), with RPC-shaped trigger data. Every trigger of the local host
 * goes through here, so conversions (HTTP requests and responses, return and output bindings, timer
 * payloads, trigger metadata) are the library's own.
 */
import { randomUUID } from 'node:crypto';
import type {
  FunctionRegistry,
  LogCategory,
  LogLevel,
  Registration,
  RpcBindingInfo,
  RpcInvocationResponse,
  RpcTypedData,
} from './core';

export interface InvocationRequest {
  /** Data for the trigger binding. */
  trigger?: RpcTypedData | null;
  triggerMetadata?: Record<string, RpcTypedData>;
  retryContext?: { retryCount: number; maxRetryCount: number; exception?: { message?: string } };
  traceContext?: { traceParent?: string; traceState?: string; attributes?: Record<string, string> };
  invocationId?: string;
}

export interface InvocationResult {
  invocationId: string;
  /** What the handler returned (after postInvocation hooks). */
  result: unknown;
  /** The converted response: return value and output bindings. Absent when the function threw. */
  response?: RpcInvocationResponse;
  error?: Error;
}

/** Provides the data of a non-trigger input binding (e.g. the durable client) for one invocation. */
export type InputProvider = (binding: RpcBindingInfo, reg: Registration) => RpcTypedData | undefined;

export interface InvokerOptions {
  appDir: string;
  log: (level: LogLevel, category: LogCategory, message: string, functionName?: string) => void;
}

export class Invoker {
  private readonly inputProviders = new Map<string, InputProvider>();
  private readonly appHookData: Record<string, unknown> = {};
  /** App-level hooks (appStart, appTerminate) share one hookData, as in the Node worker. */
  private readonly appLevelHookData: Record<string, unknown> = {};
  private warnedInputs = new Set<string>();

  constructor(
    private readonly registry: FunctionRegistry,
    private readonly options: InvokerOptions,
  ) {}

  /** Registers the provider of an input binding type (lower-case type name). */
  provideInput(type: string, provider: InputProvider): void {
    this.inputProviders.set(type.toLowerCase(), provider);
  }

  async invoke(reg: Registration, req: InvocationRequest): Promise<InvocationResult> {
    const model = this.registry.programmingModel;
    if (!model) {
      throw new Error(
        'The app did not set a programming model: is @azure/functions v4 installed and imported?',
      );
    }
    const invocationId = req.invocationId ?? randomUUID();
    const inputData: { name: string; data: RpcTypedData | null | undefined }[] = [
      { name: reg.triggerName, data: req.trigger },
    ];
    for (const [name, binding] of Object.entries(reg.bindings)) {
      if (name === reg.triggerName || binding.direction !== 'in') continue;
      const provider = this.inputProviders.get(String(binding.type).toLowerCase());
      if (provider) inputData.push({ name, data: provider(binding, reg) });
      else this.warnUnsupportedInput(reg, String(binding.type));
    }
    const log = this.options.log;
    const coreCtx = {
      invocationId,
      request: {
        invocationId,
        functionId: reg.name,
        inputData,
        triggerMetadata: req.triggerMetadata ?? {},
        retryContext: req.retryContext,
        traceContext: req.traceContext ?? { traceParent: undefined, traceState: undefined, attributes: {} },
      },
      metadata: {
        name: reg.name,
        bindings: reg.bindings,
        retryOptions: reg.retryOptions,
        functionId: reg.name,
      },
      state: undefined as string | undefined,
      log: (level: LogLevel, category: LogCategory, message: string) =>
        log(level, category, message, reg.name),
    };
    const invocationModel = await model.getInvocationModel(coreCtx);
    const { context, inputs } = await invocationModel.getArguments();

    const pre = {
      hookData: {} as Record<string, unknown>,
      appHookData: this.appHookData,
      invocationContext: context,
      inputs,
      functionCallback: reg.callback,
    };
    coreCtx.state = 'preInvocationHooks';
    for (const hook of this.registry.hooksNamed('preInvocation')) await hook(pre);

    coreCtx.state = 'invocation';
    let result: unknown;
    let error: unknown;
    try {
      result = await invocationModel.invokeFunction(context, pre.inputs, pre.functionCallback);
    } catch (err) {
      error = err;
    }

    coreCtx.state = 'postInvocationHooks';
    const post: { result: unknown; error: unknown; [k: string]: unknown } = {
      hookData: pre.hookData,
      appHookData: this.appHookData,
      invocationContext: context,
      inputs: pre.inputs,
      result: result ?? null,
      error: error ?? null,
    };
    for (const hook of this.registry.hooksNamed('postInvocation')) {
      try {
        await hook(post);
      } catch (hookError) {
        post.error = hookError;
      }
    }
    coreCtx.state = undefined;
    if (post.error !== null && post.error !== undefined) {
      return { invocationId, result: undefined, error: toError(post.error) };
    }
    try {
      const response = await invocationModel.getResponse(context, post.result);
      return { invocationId, result: post.result, response };
    } catch (err) {
      return { invocationId, result: post.result, error: toError(err) };
    }
  }

  /** Runs the app-level hooks (`appStart`, `appTerminate`). */
  async runAppHooks(name: 'appStart' | 'appTerminate'): Promise<void> {
    for (const hook of this.registry.hooksNamed(name)) {
      await hook({
        hookData: this.appLevelHookData,
        appHookData: this.appHookData,
        functionAppDirectory: this.options.appDir,
      });
    }
  }

  private warnUnsupportedInput(reg: Registration, type: string): void {
    const key = `${reg.name}:${type}`;
    if (this.warnedInputs.has(key)) return;
    this.warnedInputs.add(key);
    this.options.log(
      'warning',
      'system',
      `Input binding type '${type}' of function '${reg.name}' is not provided by the local host; the function gets no value for it.`,
      reg.name,
    );
  }
}

export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}
