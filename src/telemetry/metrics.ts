/**
 * The app's metrics (an OpenTelemetry Meter; Application Insights `customMetrics`): tokens, cost, step
 * duration and failures. Instruments are made from the global meter provider on use, so they are live
 * once telemetry is set up and no-ops before (the metrics API has no proxy provider).
 */
import {
  metrics,
  type Attributes,
  type Counter,
  type Histogram,
  type MeterProvider,
} from '@opentelemetry/api';
import { ATTR, GEN_AI, INSTRUMENTATION_SCOPE, METRICS } from './names';

interface Instruments {
  tokens: Counter;
  cost: Counter;
  stepDuration: Histogram;
  failures: Counter;
}

let made: { provider: MeterProvider; instruments: Instruments } | undefined;

function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (made?.provider !== provider) {
    const meter = provider.getMeter(INSTRUMENTATION_SCOPE);
    made = {
      provider,
      instruments: {
        tokens: meter.createCounter(METRICS.tokens, {
          unit: '{token}',
          description: 'Tokens used by agent calls, by agent type, model and direction (input/output)',
        }),
        cost: meter.createCounter(METRICS.cost, {
          unit: 'USD',
          description: 'Cost of agent calls in USD, by agent type and model',
        }),
        stepDuration: meter.createHistogram(METRICS.stepDuration, {
          unit: 'ms',
          description: 'Duration of workflow steps that ended, by workflow, step kind, status and agent type',
        }),
        failures: meter.createCounter(METRICS.failures, {
          unit: '{failure}',
          description: 'Workflow runs and steps that failed, by scope (run/step) and error code',
        }),
      },
    };
  }
  return made.instruments;
}

/** Never throws: metrics never fail the work they measure. */
function safely(record: () => void): void {
  try {
    record();
  } catch {
    // ignored
  }
}

/** Tokens and cost of one agent call. */
export function recordAgentUsage(usage: {
  agentType: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}): void {
  safely(() => {
    const { tokens, cost } = instruments();
    const dims: Attributes = { [ATTR.agentType]: usage.agentType, [GEN_AI.responseModel]: usage.model };
    tokens.add(Math.max(0, usage.inputTokens), { ...dims, [GEN_AI.tokenType]: 'input' });
    tokens.add(Math.max(0, usage.outputTokens), { ...dims, [GEN_AI.tokenType]: 'output' });
    cost.add(Math.max(0, usage.costUsd), dims);
  });
}

export function recordStepDuration(ms: number, dims: Attributes): void {
  safely(() => instruments().stepDuration.record(Math.max(0, ms), dims));
}

export function recordFailure(scope: 'run' | 'step', code: string, dims: Attributes): void {
  safely(() =>
    instruments().failures.add(1, { ...dims, [ATTR.failureScope]: scope, [ATTR.errorCode]: code }),
  );
}
