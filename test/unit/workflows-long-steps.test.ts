/**
 * Long steps in the interpreter: the agent call goes through `workflow_enqueue_task` and the
 * `task:<taskId>` event its worker raises, raced with the step timeout (PT2H by default).
 */
import { runWorkflow, type WorkflowOutcome } from '../../src/workflows/engine';
import type { LongTaskInput } from '../../src/workflows/engine-port';
import { LONG_TASK_TIMEOUT } from '../../src/workflows/engine-steps';
import { ENQUEUE_TASK_ACTIVITY, taskEventName } from '../../src/workflows/names';
import { validateWorkflow } from '../../src/workflows/validate';
import {
  agentResult,
  FakeWorkflowContext,
  withRecord,
  type Handler,
} from '../fixtures/fake-workflow-context';
import { agentStep, violations, workflow } from '../fixtures/workflows/builders';

type Worker = (task: LongTaskInput, fake: FakeWorkflowContext, at: number) => void;

function run(steps: Record<string, unknown>[], worker: Worker, more: Record<string, Handler> = {}) {
  const enqueued: LongTaskInput[] = [];
  const box: { fake?: FakeWorkflowContext } = {};
  const script = withRecord({
    [ENQUEUE_TASK_ACTIVITY]: (task: LongTaskInput, call) => {
      enqueued.push(task);
      worker(task, box.fake!, call.at);
      return undefined;
    },
    ...more,
  });
  const fake = (box.fake = new FakeWorkflowContext(script));
  const outcome: WorkflowOutcome = fake.run(
    runWorkflow(fake, { runId: 'run-1', definition: validateWorkflow(workflow(steps)), input: {} }),
  );
  return { fake, outcome, enqueued };
}

const answerAfter =
  (ms: number): Worker =>
  (task, fake, at) =>
    fake.raise(
      taskEventName(task.taskId),
      { ok: true, result: agentResult(`${task.input.call} done`) },
      at + ms,
    );

describe('long steps', () => {
  it('enqueue the call and take the outcome the worker raises', () => {
    const { fake, outcome, enqueued } = run(
      [
        agentStep('build', 'Build it', { long: true }),
        agentStep('docs', 'Document it', { dependsOn: ['build'] }),
      ],
      answerAfter(30 * 60_000),
      { agent_echo: () => agentResult('docs done') },
    );
    expect(outcome.status).toBe('completed');
    expect(outcome.steps.build).toMatchObject({ status: 'completed', summary: 'build done' });
    expect(enqueued).toHaveLength(1);
    expect(enqueued[0]).toMatchObject({
      taskId: 'run-1:build:1',
      instanceId: 'run-1',
      activity: 'agent_echo',
      input: {
        runId: 'run-1',
        stepId: 'build',
        call: 'build',
        agent: 'echo',
        prompt: 'Build it',
        attempt: 1,
      },
    });
    // Only the short step ran as an activity; the long one waited 30 minutes under a 2 h timer.
    expect(fake.agentCalls().map((c) => c.input.call)).toEqual(['docs']);
    expect(fake.timers).toHaveLength(1);
    expect(fake.timers[0]!.canceled).toBe(true);
    expect(fake.timers[0]!.fireAt.getTime() - Date.parse('2026-01-01T00:00:00Z')).toBe(2 * 3600_000);
    expect(LONG_TASK_TIMEOUT).toBe('PT2H');
  });

  it('fail the step with the STEP.TIMEOUT of the step timeout when no outcome comes', () => {
    const { outcome } = run(
      [agentStep('build', 'Build it', { long: true, timeout: 'PT5M' })],
      () => undefined,
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.steps.build!.status).toBe('failed');
    expect(outcome.steps.build!.error).toMatchObject({ code: 'STEP.TIMEOUT' });
    expect(outcome.steps.build!.error!.message).toContain('PT5M');
  });

  it('time out after PT2H without a step timeout', () => {
    const { outcome } = run([agentStep('build', 'Build it', { long: true })], () => undefined);
    expect(outcome.steps.build!.error).toMatchObject({ code: 'STEP.TIMEOUT' });
    expect(outcome.steps.build!.error!.message).toContain('PT2H');
  });

  it('fail the step with the code the worker reports', () => {
    const { outcome } = run([agentStep('build', 'Build it', { long: true })], (task, fake, at) =>
      fake.raise(
        taskEventName(task.taskId),
        { ok: false, error: { code: 'LLM.RATE_LIMITED', message: 'slow down' } },
        at + 1000,
      ),
    );
    expect(outcome.steps.build!.status).toBe('failed');
    expect(outcome.steps.build!.error!.message).toBe('LLM.RATE_LIMITED: slow down');
  });

  it('fail the step when the task cannot be enqueued', () => {
    const { outcome } = run([agentStep('build', 'Build it', { long: true })], () => {
      throw new Error('TASK.QUEUE_UNAVAILABLE: no Service Bus');
    });
    expect(outcome.steps.build!.status).toBe('failed');
    expect(outcome.steps.build!.error!.message).toContain('no Service Bus');
  });

  it('run every call of a long review loop as a task, one task id per iteration', () => {
    let verdicts = 0;
    const { outcome, enqueued } = run(
      [
        {
          id: 'review',
          kind: 'review',
          builder: 'builder',
          validator: 'validator',
          prompt: 'Build a cache',
          maxIterations: 3,
          long: true,
        },
      ],
      (task, fake, at) => {
        const isValidator = task.input.agent === 'validator';
        const passed = isValidator && ++verdicts === 2;
        const result = isValidator
          ? agentResult(passed ? 'pass' : 'fail', {
              parsed: { pass: passed, issues: passed ? [] : ['no tests'] },
            })
          : agentResult(`build ${task.input.attempt}`);
        fake.raise(taskEventName(task.taskId), { ok: true, result }, at + 100);
      },
    );
    expect(outcome.status).toBe('completed');
    expect(enqueued.map((t) => t.taskId)).toEqual([
      'run-1:review/builder-1:1',
      'run-1:review/validator-1:1',
      'run-1:review/builder-2:2',
      'run-1:review/validator-2:2',
    ]);
  });
});

describe('long: validation', () => {
  it('refuses long on group chat and approval steps', () => {
    const found = violations(
      workflow([
        { id: 'gate', kind: 'approval', prompt: 'Ship?', long: true },
        {
          id: 'chat',
          kind: 'groupChat',
          participants: ['architect', 'builder'],
          prompt: 'Discuss',
          long: true,
          dependsOn: ['gate'],
        },
      ]),
    );
    expect(found.filter((v) => v.path.endsWith('.long')).map((v) => v.message)).toEqual([
      'long applies to agent, parallel and review steps, not to a approval step',
      'long applies to agent, parallel and review steps, not to a groupChat step',
    ]);
  });
});

describe('taskEventName', () => {
  it('keeps event names free of / (clients put them in a URL path), one to one within a run', () => {
    expect(taskEventName('run-1:analysis/a:1')).toBe('task:run-1:analysis.a:1');
    expect(taskEventName('run-1:analysis/b:1')).not.toBe(taskEventName('run-1:analysis/a:1'));
    expect(taskEventName('job.7:build:2')).toBe('task:job.7:build:2');
  });
});
