/**
 * The group chat (AutoGen-like) as a pure, deterministic generator over the workflow port: the durable
 * sub-orchestration `workflow_group_chat` runs `return yield* runGroupChat(port, input)`.
 *
 * Semantics:
 * - a turn is one call of the speaker's agent activity (`<stepId>/turn-<n>`, n counted over the whole
 *   chat) with GROUP_CHAT_TURN_PROMPT; the task (the step's prompt, itself a template) is the context
 *   value `task`; `vars` are the step's plus `transcript` ([{speaker, content: StoredText}]), `round`,
 *   `turn`, `speaker`, `participants`.
 * - a round is one turn per participant: turns 1..P are round 1, and so on (whoever spoke). At most
 *   maxRounds × P turns.
 * - manager 'round-robin': the participants in order. 'selector': before each turn the selector agent
 *   is asked (`<stepId>/select-<n>`); the participant whose id or name appears first in its summary (a
 *   whole word, any case) speaks; when none does, or it names the last speaker while there are others,
 *   the participant after the last speaker in the list speaks instead.
 * - terminate.keyword: a turn whose output contains it (the activity reports `keywordFound`) ends the
 *   chat. tokenBudget: checked after each turn and each verdict call, over every call so far (selector
 *   and verdict calls included); the call that reaches it is not undone. validatorApproves: after each
 *   full round, the verdict is the last output of the participant that is the built-in validator, when
 *   it spoke in that round; otherwise the validator is asked (`<stepId>/verdict-<round>`). A verdict
 *   with `pass: true` ends the chat. Checks run in that order: keyword, tokenBudget, validator, maxRounds
 *   (a passing verdict wins over the budget its own call reached).
 * - after every `roundsPerGeneration` (ROUNDS_PER_GENERATION) full rounds of a chat that goes on, the
 *   generator calls `ctx.continueAsNew({...input, carry})` and returns `undefined`, which Durable
 *   ignores; `carry` (GroupChatState: message references, counters, usage) lets the next generation go
 *   on exactly where this one stopped, with the same call names, so history stays bounded.
 * - an activity failure propagates (the interpreter fails the step).
 */
import { findBuiltIn } from '../agents/catalog';
import {
  agentActivityName,
  type AgentActivityInput,
  type AgentActivityResult,
  type ChatMessageRef,
  type GroupChatInput,
  type GroupChatResult,
  type GroupChatState,
  type GroupChatTermination,
  type WorkflowContext,
  type WorkflowTask,
} from './engine-port';
import { storedText, ZERO_TOKENS } from './engine-steps';

/** Full rounds per generation before the chat continues as new (GroupChatInput.roundsPerGeneration). */
export const ROUNDS_PER_GENERATION = 5;

const TRANSCRIPT = `{% for m in transcript %}
[{{ m.speaker }}]: {{ m.content }}
{% endfor %}`;

/** The prompt of a turn; the task is the context value `task`. */
export const GROUP_CHAT_TURN_PROMPT = `You are {{ speaker }} in a group chat between {{ participants | join(', ') }} working on the task given in the context (round {{ round }}, turn {{ turn }}).
{% if transcript %}
The conversation so far:
${TRANSCRIPT}
Write your next message as {{ speaker }}: build on what was said, do not repeat it.
{%- else %}
Nobody has spoken yet: open the conversation as {{ speaker }}.
{%- endif %}`;

/** The selector's prompt before a turn; its answer (summary) should name the next speaker. */
export const GROUP_CHAT_SELECTOR_PROMPT = `You manage a group chat working on the task given in the context. The participants are:
{% for p in participants %}- {{ p }}
{% endfor %}
{%- if transcript %}
The conversation so far:
${TRANSCRIPT}
{%- else %}
Nobody has spoken yet.
{%- endif %}
{%- if lastSpeaker %}
{{ lastSpeaker }} spoke last: pick someone else.
{%- endif %}

Who should speak next (turn {{ turn }})? Answer with the name of one participant only.`;

/** The validator's prompt after a round when no participant is the validator. */
export const GROUP_CHAT_VERDICT_PROMPT = `Review this group chat (after round {{ round }}) against the task given in the context and give your verdict: pass only when the conversation has produced a result that fulfils the task.
${TRANSCRIPT}`;

/** Letters, digits, `_` and `-` (agent ids are slugs): a name must not touch one to count as a word. */
const WORD = '[\\p{L}\\p{N}_-]';
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Mention {
  at: number;
  length: number;
}

/** A mention that comes first, or at the same place and longer ('code review' over 'code'). */
const before = (a: Mention, b: Mention | undefined): boolean =>
  !b || a.at < b.at || (a.at === b.at && a.length > b.length);

/** Where a participant's id or name (a built-in's either) first appears in `text` as a whole word, any case. */
function mention(text: string, participant: string): Mention | undefined {
  const def = findBuiltIn(participant);
  const names = [participant, ...(def ? [def.id, def.name] : [])].map((n) => n.trim()).filter(Boolean);
  let best: Mention | undefined;
  for (const name of names) {
    const m = new RegExp(`(?<!${WORD})${escape(name)}(?!${WORD})`, 'iu').exec(text);
    if (m && before({ at: m.index, length: name.length }, best)) best = { at: m.index, length: name.length };
  }
  return best;
}

/** The participant after `last` in list order (the first when nobody spoke yet). */
function nextInOrder(participants: string[], last: string | undefined): string {
  const i = last === undefined ? -1 : participants.indexOf(last);
  return participants[(i + 1) % participants.length]!;
}

/**
 * The next speaker from the selector's answer: the participant named first in it (the longer name
 * when two start at the same place); the one after `last` in list order when none is named, or when
 * it names `last` again while there are other participants.
 */
export function chooseSpeaker(answer: string, participants: string[], last?: string): string {
  let chosen: string | undefined;
  let best: Mention | undefined;
  for (const p of participants) {
    const m = mention(answer, p);
    if (m && before(m, best)) [chosen, best] = [p, m];
  }
  if (chosen === undefined || (chosen === last && participants.length > 1)) {
    return nextInOrder(participants, last);
  }
  return chosen;
}

const isPass = (verdict: unknown): boolean =>
  verdict !== null && typeof verdict === 'object' && (verdict as { pass?: unknown }).pass === true;

function initialState(): GroupChatState {
  return { transcript: [], turns: 0, rounds: 0, tokens: { ...ZERO_TOKENS }, cost: 0, generation: 1 };
}

/**
 * Runs the chat (see the file comment). Returns the result, or `undefined` when this generation ended
 * with `ctx.continueAsNew` (Durable ignores that return value and starts the next generation).
 */
export function* runGroupChat(
  ctx: WorkflowContext,
  input: GroupChatInput,
): Generator<WorkflowTask, GroupChatResult | undefined, unknown> {
  const { participants, stepId, terminate = {} } = input;
  if (!participants.length) throw new Error(`Group chat '${stepId}' has no participants`);
  if (input.manager === 'selector' && input.selector === undefined) {
    throw new Error(`Group chat '${stepId}': manager 'selector' needs a selector agent`);
  }
  const perRound = participants.length;
  const maxTurns = input.maxRounds * perRound;
  const perGeneration = Math.max(1, input.roundsPerGeneration ?? ROUNDS_PER_GENERATION);
  const validator = participants.find((p) => findBuiltIn(p)?.id === 'validator');
  const s: GroupChatState = input.carry ? structuredClone(input.carry) : initialState();
  const firstRound = s.rounds;

  function* call(
    agent: string,
    name: string,
    prompt: string,
    extra: Record<string, unknown>,
    attempt: number,
    detectKeyword?: string,
  ): Generator<WorkflowTask, AgentActivityResult, unknown> {
    const activityInput: AgentActivityInput = {
      runId: input.runId,
      stepId,
      call: `${stepId}/${name}`,
      agent,
      prompt,
      context: { task: input.prompt },
      vars: {
        ...input.vars,
        transcript: s.transcript.map((m) => ({ speaker: m.speaker, content: storedText([m.outputRef]) })),
        participants,
        ...extra,
      },
      attempt,
      ...(detectKeyword !== undefined && { detectKeyword }),
    };
    const r = (yield ctx.callActivity(agentActivityName(agent), activityInput)) as AgentActivityResult;
    s.tokens = {
      prompt: s.tokens.prompt + r.tokens.prompt,
      completion: s.tokens.completion + r.tokens.completion,
      total: s.tokens.total + r.tokens.total,
    };
    s.cost += r.cost.total;
    return r;
  }

  const overBudget = (): boolean =>
    terminate.tokenBudget !== undefined && s.tokens.total >= terminate.tokenBudget;

  const finish = (terminatedBy: GroupChatTermination): GroupChatResult => {
    // The chat's output is its last contribution; a validator's verdict judges the work, it is not it.
    const isValidator = (m: ChatMessageRef): boolean => findBuiltIn(m.speaker)?.id === 'validator';
    const last = [...s.transcript].reverse().find((m) => !isValidator(m)) ?? s.transcript.at(-1)!;
    return {
      outputRef: last.outputRef,
      summary: last.summary,
      transcript: s.transcript,
      rounds: s.rounds,
      tokens: s.tokens,
      cost: { total: s.cost },
      terminatedBy,
    };
  };

  // The validator participant's verdict in the current round, when it spoke in it.
  let roundVerdict: { verdict: unknown } | undefined;
  while (s.turns < maxTurns) {
    const turn = s.turns + 1;
    const round = Math.floor(s.turns / perRound) + 1;
    let speaker = nextInOrder(participants, s.lastSpeaker);
    if (input.manager === 'selector') {
      const extra = { round, turn, lastSpeaker: s.lastSpeaker ?? null };
      const picked = yield* call(input.selector!, `select-${turn}`, GROUP_CHAT_SELECTOR_PROMPT, extra, round);
      speaker = chooseSpeaker(picked.summary, participants, s.lastSpeaker);
    }
    const r = yield* call(
      speaker,
      `turn-${turn}`,
      GROUP_CHAT_TURN_PROMPT,
      { round, turn, speaker },
      round,
      terminate.keyword,
    );
    s.transcript.push({ speaker, outputRef: r.outputRef, summary: r.summary });
    s.turns = turn;
    s.rounds = Math.floor(turn / perRound);
    s.lastSpeaker = speaker;
    if (speaker === validator) roundVerdict = { verdict: r.parsed };
    if (terminate.keyword !== undefined && r.keywordFound === true) return finish('keyword');
    if (overBudget()) return finish('tokenBudget');
    if (turn % perRound !== 0) continue;

    if (terminate.validatorApproves) {
      let verdict = roundVerdict?.verdict;
      if (!roundVerdict) {
        const judged = yield* call(
          'validator',
          `verdict-${round}`,
          GROUP_CHAT_VERDICT_PROMPT,
          { round },
          round,
        );
        verdict = judged.parsed;
        if (!isPass(verdict) && overBudget()) return finish('tokenBudget');
      }
      if (isPass(verdict)) return finish('validator');
    }
    roundVerdict = undefined;
    if (s.rounds - firstRound >= perGeneration && s.turns < maxTurns) {
      ctx.continueAsNew({ ...input, carry: { ...s, generation: s.generation + 1 } } satisfies GroupChatInput);
      return undefined;
    }
  }
  return finish('maxRounds');
}
