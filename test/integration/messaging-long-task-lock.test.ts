/**
 * A long task whose agent call takes longer than the `agent-tasks` message lock: the host renews the
 * lock while the worker runs, so the task is delivered (and its model called) once. (Its own file: the
 * app registers its functions once per module registry.)
 */
import { TASKS_QUEUE } from '../../src/workflows/names';
import { bodyOf, isFinished, startProjectHost, waitForRun, type ProjectHost } from '../helpers/project-host';

jest.setTimeout(60_000);

describe('a long task that outlives its message lock', () => {
  let slow: ProjectHost;
  afterAll(async () => {
    await slow?.stop();
  });

  it('keeps the lock renewed and runs the agent once', async () => {
    slow = await startProjectHost(
      'sb-slow',
      { OFFLINE_LATENCY_MS: '2500', RUN_DELTA_FLUSH_MS: '0' },
      { amqp: true },
    );
    // The call takes 2.5 s against a 1 s lock: without renewal the task would be delivered again.
    slow.host.serviceBus.broker.updateEntity(TASKS_QUEUE, { lockDurationMs: 1000 });
    const broker = slow.host.serviceBus.broker;
    const renewals = jest.spyOn(broker, 'renewLock');
    const receive = jest.spyOn(broker, 'receive');
    const res = await slow.send('POST', '/api/v1/runs', {
      definition: {
        id: 'long-slow',
        name: 'Long slow',
        steps: [{ id: 'build', kind: 'agent', agent: 'builder', prompt: 'Build a slow thing', long: true }],
      },
    });
    const { id } = await bodyOf(res);
    const run = await waitForRun(slow, id, isFinished, 30_000);
    expect(run.status).toBe('completed');
    const deliveries = receive.mock.calls.flatMap((call, i) =>
      call[0] === TASKS_QUEUE ? (receive.mock.results[i]!.value as unknown[]) : [],
    );
    expect(deliveries).toHaveLength(1);
    expect(renewals.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(broker.peek(`${TASKS_QUEUE}/$DeadLetterQueue`, 10)).toHaveLength(0);
    expect(broker.peek(TASKS_QUEUE, 10)).toHaveLength(0);
  });
});
