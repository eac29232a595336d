import { renderTemplate } from '../../src/agents/template';
import {
  runWorkflow,
  type AgentActivityInput,
  type GroupChatInput,
  type GroupChatResult,
  type StoredText,
} from '../../src/workflows/engine';
import {
  chooseSpeaker,
  GROUP_CHAT_SELECTOR_PROMPT,
  GROUP_CHAT_TURN_PROMPT,
  GROUP_CHAT_VERDICT_PROMPT,
  ROUNDS_PER_GENERATION,
  runGroupChat,
} from '../../src/workflows/group-chat';
import { findBuiltInWorkflow } from '../../src/workflows/templates';
import {
  after,
  agentResult,
  FakeWorkflowContext,
  outputRef,
  withRecord,
  type ActivityCall,
  type Handler,
} from '../fixtures/fake-workflow-context';

const AGENT_ACTIVITIES = ['architect', 'builder', 'validator', 'scribe', 'echo', 'custom'].map(
  (a) => `agent_${a}`,
);

/** A reply per call name (`turn-3`, `select-1`, `verdict-2`); by default agentResult('<agent> <call>'). */
type Replies = Record<string, unknown>;

function script(replies: Replies = {}): Record<string, Handler> {
  const handler: Handler = (i: AgentActivityInput) => {
    const reply = replies[i.call.slice(i.call.indexOf('/') + 1)];
    if (reply instanceof Error) throw reply;
    return after(100, reply ?? agentResult(`${i.agent} ${i.call}`));
  };
  return Object.fromEntries(AGENT_ACTIVITIES.map((name) => [name, handler]));
}

const chatInput = (over: Partial<GroupChatInput> = {}): GroupChatInput => ({
  runId: 'r',
  stepId: 'chat',
  participants: ['architect', 'builder'],
  manager: 'round-robin',
  maxRounds: 2,
  prompt: 'Design {{ input.topic }}',
  vars: { input: { topic: 'a cache' }, steps: {} },
  ...over,
});

/** One generation on a fresh fake. */
function generation(input: GroupChatInput, replies: Replies = {}) {
  const fake = new FakeWorkflowContext(script(replies));
  return { fake, result: fake.run(runGroupChat(fake, input)) };
}

/** Every generation until the chat returns a result. */
function chat(input: GroupChatInput, replies: Replies = {}) {
  const fakes: FakeWorkflowContext[] = [];
  for (let next: GroupChatInput | undefined = input; ;) {
    const { fake, result } = generation(next, replies);
    fakes.push(fake);
    if (result) return { fakes, fake, result, calls: fakes.flatMap((f) => f.calls) };
    expect(fake.continuedAsNew).toHaveLength(1);
    next = fake.continuedAsNew[0] as GroupChatInput;
  }
}

const callNames = (calls: ActivityCall[]): string[] => calls.map((c) => `${c.name} ${c.input.call}`);
const speakers = (r: GroupChatResult): string[] => r.transcript.map((m) => m.speaker);
const verdict = (pass: boolean) => ({ score: pass ? 90 : 40, pass, issues: [] });

/** StoredText replaced by `<text of ref>`, as the activity does before rendering. */
const resolved = (vars: unknown): Record<string, unknown> =>
  JSON.parse(JSON.stringify(vars), (_k, v: unknown) =>
    v && typeof v === 'object' && '$text' in v ? (v as StoredText).$text.map((r) => r.ref).join('') : v,
  );

describe('round-robin', () => {
  it('gives each participant a turn in order, maxRounds rounds, with the transcript as StoredText', () => {
    const { fake, result } = chat(chatInput({ participants: ['architect', 'builder', 'Scribe'] }));
    expect(callNames(fake.calls)).toEqual([
      'agent_architect chat/turn-1',
      'agent_builder chat/turn-2',
      'agent_scribe chat/turn-3',
      'agent_architect chat/turn-4',
      'agent_builder chat/turn-5',
      'agent_scribe chat/turn-6',
    ]);
    expect(result).toMatchObject({
      outputRef: outputRef('Scribe chat/turn-6'),
      summary: 'Scribe chat/turn-6',
      rounds: 2,
      terminatedBy: 'maxRounds',
    });
    expect(result.transcript[0]).toEqual({
      speaker: 'architect',
      outputRef: outputRef('architect chat/turn-1'),
      summary: 'architect chat/turn-1',
    });
    const third = fake.calls[3]!.input as AgentActivityInput;
    expect(third).toEqual({
      runId: 'r',
      stepId: 'chat',
      call: 'chat/turn-4',
      agent: 'architect',
      prompt: GROUP_CHAT_TURN_PROMPT,
      context: { task: 'Design {{ input.topic }}' },
      vars: {
        input: { topic: 'a cache' },
        steps: {},
        transcript: ['architect chat/turn-1', 'builder chat/turn-2', 'Scribe chat/turn-3'].map((t, i) => ({
          speaker: ['architect', 'builder', 'Scribe'][i],
          content: { $text: [outputRef(t)] },
        })),
        participants: ['architect', 'builder', 'Scribe'],
        round: 2,
        turn: 4,
        speaker: 'architect',
      },
      attempt: 2,
    });
    const text = renderTemplate(third.prompt, resolved(third.vars));
    expect(text).toContain('You are architect in a group chat between architect, builder, Scribe');
    expect(text).toContain('[builder]: out/builder chat/turn-2\n');
    expect(renderTemplate(third.context!.task!, resolved(third.vars))).toBe('Design a cache');
    const first = fake.calls[0]!.input as AgentActivityInput;
    expect(renderTemplate(first.prompt, resolved(first.vars))).toContain('Nobody has spoken yet');
  });

  it('runs custom agents in agent_custom and makes no selector or verdict call', () => {
    const { fake, result } = chat(chatInput({ participants: ['reviewer', 'echo'], maxRounds: 1 }));
    expect(callNames(fake.calls)).toEqual(['agent_custom chat/turn-1', 'agent_echo chat/turn-2']);
    expect(result.rounds).toBe(1);
  });
});

describe('selector', () => {
  const selector = (over: Partial<GroupChatInput> = {}) =>
    chatInput({
      participants: ['architect', 'builder', 'scribe'],
      manager: 'selector',
      selector: 'planner',
      maxRounds: 1,
      ...over,
    });

  it('asks the selector before each turn and lets the participant it names speak', () => {
    const { fake, result } = chat(selector(), {
      'select-1': agentResult('Builder should start, then the architect'),
      'select-2': agentResult('Next: SCRIBE.'),
      'select-3': agentResult('architect'),
    });
    expect(callNames(fake.calls)).toEqual([
      'agent_custom chat/select-1',
      'agent_builder chat/turn-1',
      'agent_custom chat/select-2',
      'agent_scribe chat/turn-2',
      'agent_custom chat/select-3',
      'agent_architect chat/turn-3',
    ]);
    expect(speakers(result)).toEqual(['builder', 'scribe', 'architect']);
    const select2 = fake.calls[2]!.input as AgentActivityInput;
    expect(select2).toMatchObject({ agent: 'planner', prompt: GROUP_CHAT_SELECTOR_PROMPT, attempt: 1 });
    expect(select2.vars).toMatchObject({ round: 1, turn: 2, lastSpeaker: 'builder' });
    expect(select2.detectKeyword).toBeUndefined();
    const text = renderTemplate(select2.prompt, resolved(select2.vars));
    expect(text).toContain('- architect\n- builder\n- scribe\n');
    expect(text).toContain('[builder]: out/builder chat/turn-1\n');
    expect(text).toContain('builder spoke last: pick someone else.');
    const select1 = fake.calls[0]!.input as AgentActivityInput;
    expect(select1.vars.lastSpeaker).toBeNull();
    expect(renderTemplate(select1.prompt, resolved(select1.vars))).toContain('Nobody has spoken yet.');
  });

  it('falls back to the next in order when no participant is named, and never repeats a speaker', () => {
    const { result } = chat(selector({ maxRounds: 2 }), {
      'select-1': agentResult('nobody in particular'), // → architect (first in order)
      'select-2': agentResult('rebuilder, the architects'), // not whole words → builder (after architect)
      'select-3': agentResult('builder again'), // the last speaker → scribe (after builder)
      'select-4': agentResult('scribe'), // the last speaker → architect (after scribe)
      'select-5': agentResult('the scribe'),
      'select-6': agentResult('scribe'), // the last speaker → architect
    });
    expect(speakers(result)).toEqual(['architect', 'builder', 'scribe', 'architect', 'scribe', 'architect']);
    expect(result).toMatchObject({ rounds: 2, terminatedBy: 'maxRounds' });
  });

  it('counts the selector calls in tokens and cost', () => {
    const { result } = chat(selector(), {
      'select-1': agentResult('architect', { tokens: 3, cost: 0.0003 }),
    });
    expect(result.tokens).toEqual({ prompt: 27, completion: 26, total: 53 });
    expect(result.cost.total).toBeCloseTo(0.0053, 10);
  });

  it('needs a selector agent', () => {
    expect(() => generation(selector({ selector: undefined }))).toThrow('needs a selector agent');
  });
});

describe('chooseSpeaker', () => {
  const all = ['architect', 'code-reviewer', 'reviewer', 'Design Lead', 'design'];

  it.each([
    ['The Architect.', 'architect'],
    ['reviewer, then code-reviewer', 'reviewer'],
    ['code-reviewer', 'code-reviewer'],
    ['DESIGN LEAD please', 'Design Lead'],
    ['design it', 'design'],
    ['architects', 'architect'], // none named: the first in order
  ])('%s → %s', (answer, expected) => {
    expect(chooseSpeaker(answer, all)).toBe(expected);
  });

  it('matches a built-in participant by id or name', () => {
    expect(chooseSpeaker('Architect', ['builder', 'architect'])).toBe('architect');
    expect(chooseSpeaker('architect', ['builder', 'Architect'])).toBe('Architect');
  });

  it('repeats the only participant, and moves on after the last speaker otherwise', () => {
    expect(chooseSpeaker('echo', ['echo'], 'echo')).toBe('echo');
    expect(chooseSpeaker('reviewer', all, 'reviewer')).toBe('Design Lead');
    expect(chooseSpeaker('design', all, 'design')).toBe('architect');
  });
});

describe('termination', () => {
  it('ends at the turn whose output has the keyword, which turns are asked to detect', () => {
    const { fake, result } = chat(chatInput({ maxRounds: 5, terminate: { keyword: 'APPROVED' } }), {
      'turn-3': { ...agentResult('looks APPROVED'), keywordFound: true },
    });
    expect(fake.agentCalls()).toHaveLength(3);
    expect(fake.agentCalls().every((c) => c.input.detectKeyword === 'APPROVED')).toBe(true);
    expect(result).toMatchObject({ summary: 'looks APPROVED', rounds: 1, terminatedBy: 'keyword' });
  });

  it('ignores keywordFound when no keyword was asked for', () => {
    const { result } = chat(chatInput({ maxRounds: 1 }), {
      'turn-1': { ...agentResult('x'), keywordFound: true },
    });
    expect(result).toMatchObject({ rounds: 1, terminatedBy: 'maxRounds' });
  });

  it('stops once the tokens of every call reach the budget', () => {
    const { fake, result } = chat(chatInput({ maxRounds: 5, terminate: { tokenBudget: 25 } }));
    expect(fake.agentCalls()).toHaveLength(3);
    expect(result).toMatchObject({ rounds: 1, terminatedBy: 'tokenBudget', tokens: { total: 30 } });
  });

  it('counts selector and verdict calls towards the budget', () => {
    const sel = chat(
      chatInput({ manager: 'selector', selector: 'planner', maxRounds: 5, terminate: { tokenBudget: 40 } }),
    );
    expect(callNames(sel.fake.calls).map((n) => n.split('/')[1])).toEqual([
      'select-1',
      'turn-1',
      'select-2',
      'turn-2',
    ]);
    expect(sel.result).toMatchObject({ terminatedBy: 'tokenBudget', rounds: 1 });

    const judged = chat(
      chatInput({ maxRounds: 5, terminate: { validatorApproves: true, tokenBudget: 30 } }),
      {
        'verdict-1': agentResult('no', { parsed: verdict(false) }),
      },
    );
    expect(callNames(judged.fake.calls)).toEqual([
      'agent_architect chat/turn-1',
      'agent_builder chat/turn-2',
      'agent_validator chat/verdict-1',
    ]);
    expect(judged.result).toMatchObject({
      terminatedBy: 'tokenBudget',
      summary: 'builder chat/turn-2',
      tokens: { total: 30 },
    });
  });

  it('asks the validator after each full round when no participant is the validator', () => {
    const { fake, result } = chat(chatInput({ maxRounds: 5, terminate: { validatorApproves: true } }), {
      'verdict-1': agentResult('not yet', { parsed: verdict(false) }),
      'verdict-2': agentResult('good', { parsed: verdict(true) }),
    });
    expect(callNames(fake.calls)).toEqual([
      'agent_architect chat/turn-1',
      'agent_builder chat/turn-2',
      'agent_validator chat/verdict-1',
      'agent_architect chat/turn-3',
      'agent_builder chat/turn-4',
      'agent_validator chat/verdict-2',
    ]);
    const ask = fake.calls[5]!.input as AgentActivityInput;
    expect(ask).toMatchObject({ agent: 'validator', prompt: GROUP_CHAT_VERDICT_PROMPT, attempt: 2 });
    expect(ask.vars.round).toBe(2);
    expect(ask.vars.transcript).toHaveLength(4);
    const text = renderTemplate(ask.prompt, resolved(ask.vars));
    expect(text).toContain('(after round 2)');
    expect(text).toContain('[builder]: out/builder chat/turn-4\n');
    expect(result).toMatchObject({ summary: 'builder chat/turn-4', rounds: 2, terminatedBy: 'validator' });
  });

  it('uses the verdict of a validator participant in the round, without asking again', () => {
    const { fake, result } = chat(
      chatInput({
        participants: ['architect', 'Validator'],
        maxRounds: 5,
        terminate: { validatorApproves: true },
      }),
      {
        'turn-2': agentResult('fail', { parsed: verdict(false) }),
        'turn-4': agentResult('pass', { parsed: verdict(true) }),
      },
    );
    expect(callNames(fake.calls)).toEqual([
      'agent_architect chat/turn-1',
      'agent_validator chat/turn-2',
      'agent_architect chat/turn-3',
      'agent_validator chat/turn-4',
    ]);
    // The output is the last contribution before the verdict, not the verdict itself.
    expect(result).toMatchObject({ summary: 'architect chat/turn-3', rounds: 2, terminatedBy: 'validator' });
    expect(result.transcript.at(-1)!.summary).toBe('pass');
  });

  it('asks the validator in a round where the validator participant did not speak (selector)', () => {
    const { fake, result } = chat(
      chatInput({
        participants: ['architect', 'builder', 'validator'],
        manager: 'selector',
        selector: 'planner',
        maxRounds: 3,
        terminate: { validatorApproves: true },
      }),
      {
        'select-1': agentResult('validator'),
        'turn-1': agentResult('fail', { parsed: verdict(false) }),
        'select-2': agentResult('architect'),
        'select-3': agentResult('builder'),
        'select-4': agentResult('architect'),
        'select-5': agentResult('builder'),
        'select-6': agentResult('architect'),
        'verdict-2': agentResult('pass', { parsed: verdict(true) }),
      },
    );
    // Round 1's (failing) verdict came from the validator's turn; round 2 had none, so it is asked.
    expect(callNames(fake.calls).filter((n) => !n.includes('select'))).toEqual([
      'agent_validator chat/turn-1',
      'agent_architect chat/turn-2',
      'agent_builder chat/turn-3',
      'agent_architect chat/turn-4',
      'agent_builder chat/turn-5',
      'agent_architect chat/turn-6',
      'agent_validator chat/verdict-2',
    ]);
    expect(result).toMatchObject({ summary: 'architect chat/turn-6', rounds: 2, terminatedBy: 'validator' });
  });
});

describe('continueAsNew', () => {
  const long = (over: Partial<GroupChatInput> = {}) =>
    chatInput({
      participants: ['architect', 'builder', 'echo'],
      manager: 'selector',
      selector: 'planner',
      maxRounds: 5,
      terminate: { validatorApproves: true, keyword: 'DONE' },
      ...over,
    });
  const replies: Replies = {
    'select-4': agentResult('echo, please', { tokens: 7, cost: 0.0007 }),
    'turn-5': agentResult('long', { tokens: 31, cost: 0.0031 }),
    'select-9': agentResult('builder'),
    'verdict-3': agentResult('no', { parsed: verdict(false), tokens: 5, cost: 0.00051 }),
  };

  it('continues as new after roundsPerGeneration rounds, carrying only references and counters', () => {
    const g1 = generation(long({ roundsPerGeneration: 2 }), replies);
    expect(g1.result).toBeUndefined();
    expect(g1.fake.calls.at(-1)!.input.call).toBe('chat/verdict-2');
    const next = g1.fake.continuedAsNew[0] as GroupChatInput;
    expect(next).toMatchObject({
      ...long({ roundsPerGeneration: 2 }),
      carry: { turns: 6, rounds: 2, generation: 2 },
    });
    expect(next.carry!.transcript).toHaveLength(6);
    expect(Object.keys(next.carry!.transcript[0]!).sort()).toEqual(['outputRef', 'speaker', 'summary']);
    expect(next.carry!.lastSpeaker).toBe(next.carry!.transcript[5]!.speaker);

    const g2 = generation(next, replies);
    expect(g2.fake.calls[0]!.input.call).toBe('chat/select-7');
    expect(g2.fake.calls[0]!.input.vars.transcript).toHaveLength(6);
  });

  it('gives the same calls and result across generations as one uninterrupted chat', () => {
    const whole = chat(long({ roundsPerGeneration: 100 }), replies);
    expect(whole.fakes).toHaveLength(1);
    for (const per of [1, 2]) {
      const split = chat(long({ roundsPerGeneration: per }), replies);
      expect(split.fakes).toHaveLength(per === 1 ? 5 : 3);
      expect(split.result).toEqual(whole.result);
      const strip = (c: ActivityCall) => ({ name: c.name, input: c.input });
      expect(split.calls.map(strip)).toEqual(whole.calls.map(strip));
    }
    expect(whole.result).toMatchObject({ rounds: 5, terminatedBy: 'maxRounds' });
    expect(whole.calls).toHaveLength(35); // 15 selections, 15 turns, 5 verdicts
  });

  it('defaults to ROUNDS_PER_GENERATION rounds and finishes instead of continuing at the last round', () => {
    const input = chatInput({ maxRounds: 2 * ROUNDS_PER_GENERATION });
    const { fakes, result } = chat(input);
    expect(fakes.map((f) => f.agentCalls().length)).toEqual([
      2 * ROUNDS_PER_GENERATION,
      2 * ROUNDS_PER_GENERATION,
    ]);
    expect(fakes[1]!.continuedAsNew).toEqual([]);
    expect(result).toMatchObject({ rounds: 2 * ROUNDS_PER_GENERATION, terminatedBy: 'maxRounds' });
    expect(result.transcript).toHaveLength(4 * ROUNDS_PER_GENERATION);
  });

  it('finishes rather than continues when the chat ends at a generation boundary', () => {
    const { fakes, result } = chat(
      chatInput({ maxRounds: 5, roundsPerGeneration: 1, terminate: { validatorApproves: true } }),
      {
        'verdict-2': agentResult('ok', { parsed: verdict(true) }),
      },
    );
    expect(fakes).toHaveLength(2);
    expect(result).toMatchObject({ rounds: 2, terminatedBy: 'validator' });
  });
});

describe('determinism, usage and failures', () => {
  it('makes the same calls at the same virtual times on a second run', () => {
    const input = chatInput({ manager: 'selector', selector: 'architect', maxRounds: 3 });
    const replies = { 'select-2': agentResult('architect') };
    const a = chat(input, replies);
    const b = chat(input, replies);
    expect(b.fake.calls).toEqual(a.fake.calls);
    expect(b.fake.trace).toEqual(a.fake.trace);
    expect(b.result).toEqual(a.result);
    expect(a.fake.clock).toBe(1200);
  });

  it('sums tokens and cost over every call', () => {
    const { result } = chat(chatInput({ maxRounds: 1, terminate: { validatorApproves: true } }), {
      'turn-1': agentResult('a', { tokens: 11, cost: 0.1 }),
      'turn-2': agentResult('b', { tokens: 20, cost: 0.2 }),
      'verdict-1': agentResult('v', { tokens: 5, cost: 0.05, parsed: verdict(false) }),
    });
    expect(result.tokens).toEqual({ prompt: 6 + 10 + 3, completion: 5 + 10 + 2, total: 36 });
    expect(result.cost.total).toBeCloseTo(0.35, 10);
  });

  it('lets an activity failure propagate', () => {
    expect(() => generation(chatInput(), { 'turn-2': new Error('model down') })).toThrow('model down');
    expect(() =>
      generation(chatInput({ manager: 'selector', selector: 'planner' }), {
        'select-1': new Error('no pick'),
      }),
    ).toThrow('no pick');
  });

  it('refuses a chat without participants', () => {
    expect(() => generation(chatInput({ participants: [] }))).toThrow(
      "Group chat 'chat' has no participants",
    );
  });

  it('fake: yielding after continueAsNew is a bug', () => {
    const fake = new FakeWorkflowContext(script());
    function* bad() {
      fake.continueAsNew({});
      yield fake.callActivity('agent_echo', { call: 'x' });
    }
    expect(() => fake.run(bad())).toThrow('after continueAsNew');
  });
});

describe('under the interpreter', () => {
  it('runs design-review-chat as the workflow_group_chat sub-orchestration', () => {
    const replies = {
      'turn-3': agentResult('needs work', { parsed: verdict(false) }),
      'turn-5': { ...agentResult('APPROVED, ship it'), keywordFound: true },
    };
    const fake = new FakeWorkflowContext(
      withRecord({ workflow_group_chat: (input: GroupChatInput) => chat(input, replies).result }),
    );
    const outcome = fake.run(
      runWorkflow(fake, {
        runId: 'run-1',
        definition: findBuiltInWorkflow('design-review-chat')!,
        input: { topic: 'a cache' },
      }),
    );
    expect(outcome.status).toBe('completed');
    expect(outcome.steps.discussion).toMatchObject({
      summary: 'APPROVED, ship it',
      rounds: 1,
      calls: 1,
      tokens: { total: 50 },
    });
    expect(outcome.steps.discussion!.transcript!.map((m) => m.speaker)).toEqual([
      'architect',
      'builder',
      'validator',
      'architect',
      'builder',
    ]);
  });
});
