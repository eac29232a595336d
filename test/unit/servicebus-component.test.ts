/** ServiceBusComponent with a stand-in invoker: settlement, outputs, shutdown and output bindings. */
import Database from 'better-sqlite3';
import type { HostContext, OutputHandler } from '../../src/local-host/context';
import type { HostJson } from '../../src/local-host/host-json';
import { silentLogger } from '../../src/local-host/log';
import { ServiceBusComponent } from '../../src/local-host/servicebus/component';
import type { Registration, RpcTypedData } from '../../src/local-host/worker/core';
import type { InvocationRequest, InvocationResult } from '../../src/local-host/worker/invoker';

type Invoke = (reg: Registration, req: InvocationRequest) => Promise<InvocationResult>;

const reg = (
  name: string,
  trigger: Record<string, unknown>,
  outputs: Registration['bindings'] = {},
): Registration => ({
  name,
  triggerName: 'message',
  trigger: { type: 'serviceBusTrigger', direction: 'in', name: 'message', ...trigger },
  bindings: { message: { type: 'serviceBusTrigger', direction: 'in', ...trigger }, ...outputs },
  callback: () => undefined,
});

let db: Database.Database;
let outputHandler: OutputHandler | undefined;
let component: ServiceBusComponent;
const dispatched: { name: string; data: RpcTypedData }[][] = [];

function setup(
  regs: Registration[],
  invoke: Invoke,
  serviceBus: HostJson['extensions'] = {},
  failDispatch = false,
) {
  const ctx = {
    appDir: 'test/fixtures/no-such-app', // no servicebus-emulator.config.json
    dataDir: '.',
    db,
    registry: { byTrigger: (t: string) => (t === 'serviceBusTrigger' ? regs : []) },
    invoker: { invoke },
    hostJson: { extensions: { serviceBus } },
    log: silentLogger,
    env: { JOBS: 'jobs' },
    baseUrl: () => 'http://127.0.0.1',
    mountHttp: () => undefined,
    handleOutput: (_type: string, handler: OutputHandler) => (outputHandler = handler),
  } as unknown as HostContext;
  component = new ServiceBusComponent(ctx, {
    dispatchOutputs: async (_reg, outputs) => {
      if (failDispatch) throw new Error('dispatch failed');
      dispatched.push(outputs);
    },
  });
  component.start();
  return component;
}

const ok = (response: InvocationResult['response'] = {}): Promise<InvocationResult> =>
  Promise.resolve({ invocationId: 'i', result: undefined, response });
const until = async (probe: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const counts = (path: string) => component.broker.counts().find((c) => c.path === path);

beforeEach(() => {
  db = new Database(':memory:');
  dispatched.length = 0;
  outputHandler = undefined;
});
afterEach(async () => {
  await component?.stop(Date.now());
  db.close();
});

it('describes queue and subscription triggers, resolving app settings', () => {
  setup([], () => ok());
  expect(component.describe(reg('a', { queueName: '%JOBS%' }))).toBe('serviceBusTrigger (queue: jobs)');
  expect(component.describe(reg('b', { topicName: 't', subscriptionName: 's' }))).toBe(
    'serviceBusTrigger (topic: t, subscription: s)',
  );
  expect(component.describe({ ...reg('c', {}), trigger: { type: 'timerTrigger' } })).toBeUndefined();
});

it('forwards outputData and a $return value, then completes', async () => {
  const r = reg(
    'fn',
    { queueName: '%JOBS%' },
    { $return: { type: 'serviceBus', direction: 'out', queueName: 'x' } },
  );
  setup([r], () =>
    ok({ outputData: [{ name: 'extra', data: { string: 'e' } }], returnValue: { json: '{"r":1}' } }),
  );
  component.broker.send('jobs', { body: 'hello' });
  await until(() => dispatched.length === 1 && counts('jobs')!.active + counts('jobs')!.locked === 0);
  expect(dispatched[0]).toEqual([
    { name: 'extra', data: { string: 'e' } },
    { name: '$return', data: { json: '{"r":1}' } },
  ]);
});

it('abandons when delivering outputs fails', async () => {
  let calls = 0;
  setup([reg('fn', { queueName: 'jobs' })], () => (calls++, ok()), { maxDeliveryCount: 2 }, true);
  component.broker.send('jobs', { body: 'x' });
  await until(() => counts('jobs')!.deadLettered === 1);
  expect(calls).toBe(2);
  expect(component.broker.peek('jobs/$DeadLetterQueue')[0]!.deadLetterErrorDescription).toContain(
    'dispatch failed',
  );
});

it('leaves messages locked when autoCompleteMessages is false', async () => {
  let calls = 0;
  setup([reg('fn', { queueName: 'jobs', autoCompleteMessages: false })], () => (calls++, ok()));
  component.broker.send('jobs', { body: 'x' });
  await until(() => calls === 1);
  await new Promise((r) => setTimeout(r, 20));
  expect(counts('jobs')).toMatchObject({ active: 0, locked: 1 });
});

it('stops at the deadline; an unfinished message keeps its lock', async () => {
  let release: (() => void) | undefined;
  setup(
    [reg('fn', { queueName: 'jobs' })],
    () => new Promise((resolve) => (release = () => void resolve(ok()))),
  );
  component.broker.send('jobs', { body: 'x' });
  await until(() => release !== undefined);
  const started = Date.now();
  await component.stop(Date.now() + 100);
  expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  expect(counts('jobs')).toMatchObject({ locked: 1 });
  release!();
  await new Promise((r) => setTimeout(r, 20));
  expect(counts('jobs')).toMatchObject({ locked: 0, active: 0 });
});

it('skips triggers without an entity name', () => {
  setup([reg('fn', { topicName: 't' })], () => ok());
  expect(component.broker.listEntities()).toEqual([]);
});

it('sends output binding values to queues and topics', async () => {
  setup([], () => ok());
  component.broker.ensureSubscription('t', 's');
  const fn = reg('http', {});
  await outputHandler!(
    { type: 'serviceBus', queueName: '%JOBS%', name: 'out' },
    { json: '[{"a":1},"b"]' },
    fn,
  );
  await outputHandler!({ type: 'serviceBus', topicName: 't', name: 'out2' }, { string: 'to topic' }, fn);
  expect(component.broker.peek('jobs', 10).map((m) => m.body.toString())).toEqual(['{"a":1}', 'b']);
  expect(component.broker.peek('t/Subscriptions/s')[0]!.body.toString()).toBe('to topic');
  expect(() => outputHandler!({ type: 'serviceBus', name: 'bad' }, { string: 'x' }, fn)).toThrow(
    /queueName or topicName/,
  );
});

it('applies host.json maxDeliveryCount to existing entities', () => {
  setup([], () => ok());
  component.broker.ensureQueue('old', { maxDeliveryCount: 10 });
  void component.stop(Date.now());
  setup([], () => ok(), { maxDeliveryCount: 4 });
  expect(component.broker.getEntity('old')!.maxDeliveryCount).toBe(4);
});

it('triggers on a dead-letter queue', async () => {
  const seen: string[] = [];
  setup([reg('fn', { queueName: 'jobs/$DeadLetterQueue' })], (_r, req) => {
    seen.push(req.trigger!.string!);
    return ok();
  });
  component.broker.send('jobs', { body: 'doomed' });
  const [m] = component.broker.receive('jobs');
  component.broker.deadLetter(m!.lockToken!, 'Bad');
  await until(() => seen.length === 1 && counts('jobs')!.deadLettered === 0);
  expect(seen).toEqual(['doomed']);
});
