/**
 * Service Bus for the local host: the embedded broker, `serviceBusTrigger` functions (queues and
 * topic subscriptions, cardinality one/many, sessions), `serviceBus` output bindings and the admin
 * HTTP API. Settings come from host.json `extensions.serviceBus` like in Azure: maxConcurrentCalls
 * (16), maxConcurrentSessions (8), autoCompleteMessages (true), maxMessageBatchSize (1000),
 * maxAutoLockRenewalDuration (00:05:00), plus `maxDeliveryCount` (10), which in Azure is a property
 * of the queue or subscription and here sets it on every local entity.
 *
 * A failed invocation abandons its messages, so they are redelivered until the delivery count
 * reaches maxDeliveryCount and they move to the dead-letter queue (reason MaxDeliveryCountExceeded,
 * the last error in the description). With autoCompleteMessages false nothing settles a message
 * (Node functions have no message actions), so it comes back when its lock expires — as in Azure.
 */
import type { HostComponent, HostContext } from '../context';
import { parseTimeSpan, resolveSettingRefs } from '../host-json';
import type { Registration, RpcBindingInfo, RpcInvocationResponse, RpcTypedData } from '../worker/core';
import { toError } from '../worker/invoker';
import { invocationTraceContext } from '../worker/trace-context';
import { createAdminApi } from './admin-api';
import { EMULATOR_CONFIG_FILE, loadEmulatorConfig } from './emulator-config';
import { ServiceBusBroker } from './broker';
import { outputToMessages, toTriggerInput } from './convert';
import { TriggerPump } from './pump';
import { parsePath, subscriptionPath } from './store';
import type { BrokerMessage } from './types';

export interface ServiceBusComponentOptions {
  dispatchOutputs: (reg: Registration, outputs: { name: string; data: RpcTypedData }[]) => Promise<void>;
}

interface ServiceBusTrigger {
  reg: Registration;
  /** Entity path: a queue or `topic/Subscriptions/sub`. */
  entity: string;
  queue?: string;
  topic?: string;
  subscription?: string;
  many: boolean;
  sessions: boolean;
  autoComplete: boolean;
  dataType?: string;
}

/** host.json `extensions.serviceBus`, with the Functions host's defaults. */
interface ServiceBusSettings {
  maxConcurrentCalls: number;
  maxConcurrentSessions: number;
  maxMessageBatchSize: number;
  autoComplete: boolean;
  maxDeliveryCount: number;
  explicitMaxDeliveryCount: boolean;
  maxLockRenewalMs: number;
}

export class ServiceBusComponent implements HostComponent {
  readonly name = 'serviceBus';
  readonly broker: ServiceBusBroker;
  private readonly pumps: TriggerPump[] = [];
  private readonly config: ServiceBusSettings;

  constructor(
    private readonly ctx: HostContext,
    private readonly opts: ServiceBusComponentOptions,
  ) {
    const sb = ctx.hostJson.extensions?.serviceBus ?? {};
    this.config = {
      maxConcurrentCalls: positiveInt(sb.maxConcurrentCalls, 16),
      maxConcurrentSessions: positiveInt(sb.maxConcurrentSessions, 8),
      maxMessageBatchSize: positiveInt(sb.maxMessageBatchSize, 1000),
      autoComplete: sb.autoCompleteMessages !== false,
      maxDeliveryCount: positiveInt(sb.maxDeliveryCount, 10),
      explicitMaxDeliveryCount: sb.maxDeliveryCount !== undefined,
      maxLockRenewalMs: parseTimeSpan(sb.maxAutoLockRenewalDuration, 5 * 60_000),
    };
    this.broker = new ServiceBusBroker(ctx.db, {
      defaults: { maxDeliveryCount: this.config.maxDeliveryCount },
    });
    ctx.handleOutput('serviceBus', (binding, data) => this.sendOutput(binding, data));
    ctx.mountHttp('/admin/servicebus/', createAdminApi(this.broker));
  }

  start(): void {
    if (this.config.explicitMaxDeliveryCount) {
      for (const e of this.broker.listEntities()) {
        if (e.kind !== 'topic' && e.maxDeliveryCount !== this.config.maxDeliveryCount) {
          this.broker.updateEntity(e.path, { maxDeliveryCount: this.config.maxDeliveryCount });
        }
      }
    }
    try {
      const declared = loadEmulatorConfig(this.broker, this.ctx.appDir);
      if (declared) this.ctx.log.info(`Service Bus: ${declared} entities from ${EMULATOR_CONFIG_FILE}.`);
    } catch (err) {
      this.ctx.log.error(`Service Bus: ${(err as Error).message}`);
    }
    for (const reg of this.ctx.registry.byTrigger('serviceBusTrigger')) {
      let trigger: ServiceBusTrigger;
      try {
        trigger = this.resolve(reg);
        if (trigger.subscription) this.broker.ensureSubscription(trigger.topic!, trigger.subscription);
        else this.broker.ensureQueue(parsePath(trigger.queue!).entity); // also for `queue/$DeadLetterQueue`
      } catch (err) {
        this.ctx.log.error(`${reg.name}: ${(err as Error).message} The function will not run.`);
        continue;
      }
      const pump = new TriggerPump({
        broker: this.broker,
        entity: trigger.entity,
        batchSize: trigger.many ? this.config.maxMessageBatchSize : 1,
        concurrency: this.concurrencyOf(trigger),
        sessions: trigger.sessions,
        maxLockRenewalMs: this.config.maxLockRenewalMs,
        process: (messages) => this.process(trigger, messages),
        onError: (err) => this.ctx.log.error(`${reg.name}: ${err.message}`),
      });
      this.pumps.push(pump);
      pump.start();
    }
  }

  async stop(deadline: number): Promise<void> {
    await Promise.all(this.pumps.map((p) => p.stop(deadline)));
    this.pumps.length = 0;
  }

  describe(reg: Registration): string | undefined {
    if (reg.trigger.type.toLowerCase() !== 'servicebustrigger') return undefined;
    const b = reg.trigger;
    const name = (v: unknown): string => {
      try {
        return resolveSettingRefs(String(v), this.ctx.env);
      } catch {
        return String(v);
      }
    };
    const where = b.queueName
      ? `queue: ${name(b.queueName)}`
      : `topic: ${name(b.topicName)}, subscription: ${name(b.subscriptionName)}`;
    return `serviceBusTrigger (${where})`;
  }

  /** Like the extension: one batch at a time, maxConcurrentSessions sessions, else maxConcurrentCalls. */
  private concurrencyOf(trigger: ServiceBusTrigger): number {
    if (trigger.many) return 1;
    return trigger.sessions ? this.config.maxConcurrentSessions : this.config.maxConcurrentCalls;
  }

  private resolve(reg: Registration): ServiceBusTrigger {
    const b = reg.trigger;
    const text = (key: string): string | undefined => {
      const value = b[key];
      return typeof value === 'string' && value !== '' ? resolveSettingRefs(value, this.ctx.env) : undefined;
    };
    const queue = text('queueName');
    const topic = text('topicName');
    const subscription = text('subscriptionName');
    const common = {
      reg,
      many: typeof b.cardinality === 'string' && b.cardinality.toLowerCase() === 'many',
      sessions: b.isSessionsEnabled === true,
      autoComplete:
        typeof b.autoCompleteMessages === 'boolean' ? b.autoCompleteMessages : this.config.autoComplete,
      ...(typeof b.dataType === 'string' ? { dataType: b.dataType.toLowerCase() } : {}),
    };
    if (queue) return { ...common, entity: queue, queue };
    if (topic && subscription)
      return { ...common, entity: subscriptionPath(topic, subscription), topic, subscription };
    throw new Error('A serviceBusTrigger needs queueName, or topicName and subscriptionName.');
  }

  /** Runs the function for received messages, forwards its outputs and settles the messages. */
  private async process(trigger: ServiceBusTrigger, messages: BrokerMessage[]): Promise<void> {
    const { reg } = trigger;
    let error: Error | undefined;
    try {
      const props = messages[0]?.applicationProperties ?? {};
      const parent = props['Diagnostic-Id'] ?? props.traceparent;
      const result = await this.ctx.invoker.invoke(reg, {
        ...toTriggerInput(messages, trigger.many, trigger.dataType),
        traceContext: invocationTraceContext(typeof parent === 'string' ? parent : undefined),
      });
      error = result.error;
      if (!error) await this.opts.dispatchOutputs(reg, collectOutputs(reg, result.response));
    } catch (err) {
      error = toError(err);
    }
    if (error) {
      const first = messages[0]!;
      const max = this.broker.getEntity(trigger.entity)?.maxDeliveryCount ?? this.config.maxDeliveryCount;
      this.ctx.log.fn(
        'error',
        'system',
        reg.name,
        `Failed on message ${first.messageId}${messages.length > 1 ? ` (+${messages.length - 1})` : ''}, ` +
          `delivery ${first.deliveryCount} of ${max}: ${error.message}`,
      );
    }
    for (const m of messages) this.settle(m, error, trigger.autoComplete);
  }

  private settle(m: BrokerMessage, error: Error | undefined, autoComplete: boolean): void {
    if (!m.lockToken || !this.ctx.db.open) return;
    try {
      if (error) this.broker.abandon(m.lockToken, { error: error.message });
      else if (autoComplete) this.broker.complete(m.lockToken);
    } catch (err) {
      this.ctx.log.warn(
        `Service Bus message ${m.messageId} on ${m.entity} was not settled: ${(err as Error).message}`,
      );
    }
  }

  /** Sends the value of a `serviceBus` output binding to its queue or topic. */
  private sendOutput(binding: RpcBindingInfo, data: RpcTypedData): void {
    const messages = outputToMessages(data);
    if (messages.length === 0) return;
    const queue = typeof binding.queueName === 'string' ? binding.queueName : undefined;
    const topic = typeof binding.topicName === 'string' ? binding.topicName : undefined;
    if (queue) {
      const name = resolveSettingRefs(queue, this.ctx.env);
      this.broker.ensureQueue(name);
      this.broker.send(name, messages);
    } else if (topic) {
      const name = resolveSettingRefs(topic, this.ctx.env);
      this.broker.ensureTopic(name);
      this.broker.send(name, messages);
    } else {
      throw new Error(`Service Bus output binding '${binding.name ?? ''}' needs a queueName or topicName.`);
    }
  }
}

/** Output binding values of a successful invocation, with a non-HTTP return value as `$return`. */
function collectOutputs(
  reg: Registration,
  response: RpcInvocationResponse | undefined,
): { name: string; data: RpcTypedData }[] {
  const outputs: { name: string; data: RpcTypedData }[] = [];
  for (const o of response?.outputData ?? []) {
    if (o.name && o.data) outputs.push({ name: o.name, data: o.data });
  }
  const ret = reg.bindings.$return;
  if (response?.returnValue && ret && String(ret.type).toLowerCase() !== 'http') {
    outputs.push({ name: '$return', data: response.returnValue });
  }
  return outputs;
}

function positiveInt(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback;
}
