/**
 * Conversations on Durable Functions (docs/conversations.md): the `conversation` entity (one actor per
 * agent and conversation: queue, lease, working memory), the `conversation_turn` orchestration (one per
 * turn; the lease holder runs the queue), the `conversation_reply` activity (memory, agent, transcript),
 * the idle-expiry timer, and the HTTP triggers: run a turn (JSON or SSE), read and delete a
 * conversation, deliver and broadcast messages between agents. The logic is in src/conversations and
 * src/api/conversations*.ts; this file maps it onto the SDK.
 */
import {
  app,
  type HttpRequest,
  type HttpResponse,
  type HttpResponseInit,
  type InvocationContext,
} from '@azure/functions';
import * as df from 'durable-functions';
import type { EntityContext, OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import type * as ActorModule from '../src/conversations/actor';
import type * as OrchestratorModule from '../src/conversations/orchestrator';
import type { ConversationState } from '../src/conversations/actor';
import {
  CONVERSATION_ENTITY,
  CONVERSATION_EXPIRY_TIMER,
  CONVERSATION_ORCHESTRATOR,
  CONVERSATION_REPLY_ACTIVITY,
} from '../src/conversations/names';
import type { TurnContext } from '../src/conversations/orchestrator';
import type { ConversationEngine } from '../src/conversations/service';
import type { ReplyInput, TurnOrchestrationInput } from '../src/conversations/types';
import type { ConversationsApiDeps } from '../src/api/conversations';
import { answer, type ApiResponse } from '../src/api/http';
import { CONVERSATION_ROUTES } from '../src/api/conversations-routes';
import { httpOptions, type RouteSpec } from '../src/api/routes';
import { appServices, jsonBody, lazy, pathId, toHttpResponse } from './agents';

/** The expiry timer's schedule when CONVERSATION_EXPIRY_SCHEDULE is unset (every 5 minutes). */
const DEFAULT_EXPIRY_SCHEDULE = '0 */5 * * * *';

let actor: typeof ActorModule | undefined;
let orchestrator: typeof OrchestratorModule | undefined;
/* eslint-disable @typescript-eslint/no-require-imports -- entities and orchestrators are synchronous: load on first use */
const actorModule = (): typeof ActorModule =>
  (actor ??= require('../src/conversations/actor') as typeof ActorModule);
const orchestratorModule = (): typeof OrchestratorModule =>
  (orchestrator ??= require('../src/conversations/orchestrator') as typeof OrchestratorModule);
/* eslint-enable @typescript-eslint/no-require-imports */

const api = lazy(() => import('../src/api/conversations'));
const streamApi = lazy(() => import('../src/api/conversations-stream'));
const messagingApi = lazy(() => import('../src/api/conversations-messaging'));
const domain = lazy(async () => ({
  service: await import('../src/conversations/service'),
  reply: await import('../src/conversations/reply'),
  memory: await import('../src/conversations/memory'),
}));

// ---- the actor ----------------------------------------------------------------------------------

df.app.entity(CONVERSATION_ENTITY, (context: EntityContext<ConversationState>) => {
  const d = context.df;
  const now = new Date().toISOString(); // entities are not replayed: the clock is theirs to read
  const applied = actorModule().applyOperation(d.getState(), d.operationName ?? '', d.getInput(), now);
  if (applied.state) d.setState(applied.state);
  d.return(applied.result);
  // After `return` (which marks the entity as existing): an entity with no state does not exist.
  if (!applied.state) d.destructOnExit();
});

// ---- the turn orchestration ------------------------------------------------------------------------

function turnContext(context: OrchestrationContext): TurnContext {
  const d = context.df;
  return {
    instanceId: d.instanceId,
    callEntity: (key, operation, input) =>
      d.callEntity(new df.EntityId(CONVERSATION_ENTITY, key), operation, input),
    callActivity: (name, input, retry) =>
      d.callActivityWithRetry(name, new df.RetryOptions(retry.firstIntervalMs, retry.maxAttempts), input),
    continueAsNew: (input) => d.continueAsNew(input),
  };
}

const conversationTurn: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<TurnOrchestrationInput>();
  const run = orchestratorModule().conversationTurn(turnContext(context), input);
  return yield* run as Generator<Task, unknown, unknown>;
};

df.app.orchestration(CONVERSATION_ORCHESTRATOR, conversationTurn);

df.app.activity(CONVERSATION_REPLY_ACTIVITY, {
  handler: async (input: ReplyInput, context: InvocationContext) => {
    const [services, { reply, memory }] = await Promise.all([appServices(), domain()]);
    const settings = services.config.conversations.memory;
    return reply.replyActivity(
      {
        store: services.conversations,
        agents: services.agents,
        memory: memory.createMemoryModel({
          agents: services.agents,
          resolveModel: services.resolveModel,
          settings,
          contextWindows: services.config.llm.contextWindows,
        }),
        strategy: settings.strategy,
        events: services.runs,
        deltaFlushMs: services.config.runs.deltaFlushMs,
        log: (message) => context.error(message),
      },
      input,
    );
  },
});

// ---- the service over the durable client ----------------------------------------------------------

function engineOf(client: df.DurableClient): ConversationEngine {
  return {
    startTurn: async (input) => {
      await client.startNew(CONVERSATION_ORCHESTRATOR, { instanceId: input.turn.id, input });
    },
    signal: (key, operation, input) =>
      client.signalEntity(new df.EntityId(CONVERSATION_ENTITY, key), operation, input),
  };
}

async function serviceFor(client: df.DurableClient) {
  const [services, { service }] = await Promise.all([appServices(), domain()]);
  return new service.ConversationService({
    store: services.conversations,
    agents: services.agents,
    engine: engineOf(client),
  });
}

type UseCase = (req: HttpRequest, deps: ConversationsApiDeps) => Promise<ApiResponse>;

function register(spec: RouteSpec, useCase: UseCase): void {
  app.http(spec.name, {
    ...httpOptions(spec),
    extraInputs: [df.input.durableClient()],
    handler: async (
      req: HttpRequest,
      context: InvocationContext,
    ): Promise<HttpResponseInit | HttpResponse> => {
      const log = (message: string): void => context.error(message);
      const res = await answer(async () => {
        const services = await appServices();
        const deps: ConversationsApiDeps = {
          service: await serviceFor(df.getClient(context)),
          events: services.runs,
          turnTimeoutMs: services.config.conversations.turnTimeoutMs,
          ttlSeconds: services.config.conversations.ttlSeconds,
          heartbeatMs: services.config.runs.sseHeartbeatMs,
        };
        return useCase(req, deps);
      }, log);
      return toHttpResponse(res);
    },
  });
}

const agentName = (req: HttpRequest): string => req.params.name ?? '';

register(CONVERSATION_ROUTES.runConversation, async (req, deps) =>
  (await api()).runConversation(deps, agentName(req), await jsonBody(req)),
);
register(CONVERSATION_ROUTES.streamConversation, async (req, deps) =>
  (await streamApi()).streamConversation(deps, agentName(req), await jsonBody(req)),
);
register(CONVERSATION_ROUTES.getConversation, async (req, deps) =>
  (await api()).getConversation(deps, pathId(req)),
);
register(CONVERSATION_ROUTES.deleteConversation, async (req, deps) =>
  (await api()).deleteConversation(deps, pathId(req)),
);
register(CONVERSATION_ROUTES.sendAgentMessage, async (req, deps) =>
  (await messagingApi()).sendAgentMessage(deps, pathId(req), await jsonBody(req)),
);
register(CONVERSATION_ROUTES.listAgentMessages, async (req, deps) =>
  (await messagingApi()).listAgentMessages(deps, pathId(req), req.query),
);
register(CONVERSATION_ROUTES.broadcastAgentMessage, async (req, deps) =>
  (await messagingApi()).broadcastAgentMessage(deps, await jsonBody(req)),
);

// ---- idle expiry ------------------------------------------------------------------------------------

// The schedule is part of the registration, read before any service is composed (src/config validates
// the same setting and documents it).
app.timer(CONVERSATION_EXPIRY_TIMER, {
  schedule: process.env.CONVERSATION_EXPIRY_SCHEDULE?.trim() || DEFAULT_EXPIRY_SCHEDULE,
  extraInputs: [df.input.durableClient()],
  handler: async (_timer, context: InvocationContext) => {
    const services = await appServices();
    const expired = await (
      await serviceFor(df.getClient(context))
    ).expireIdle(services.config.conversations.ttlSeconds);
    if (expired)
      context.log(
        `Deleted ${expired} conversation(s) idle for ${services.config.conversations.ttlSeconds} s.`,
      );
  },
});
