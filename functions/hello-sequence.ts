/**
 * The smallest durable path: an HTTP starter, an orchestration and an activity (the shape of
 * Microsoft's "function chaining" sample). It proves the host end to end.
 */
import {
  app,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
  type InvocationContext,
} from '@azure/functions';
import * as df from 'durable-functions';
import type { ActivityHandler, OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { greet } from '../src/api/greeting';

export const HELLO_ORCHESTRATION = 'helloSequence';
export const SAY_HELLO_ACTIVITY = 'sayHello';

const helloSequence: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<{ cities?: string[] } | undefined>();
  const cities = input?.cities?.length ? input.cities : ['Tokyo', 'Seattle', 'London'];
  const outputs: string[] = [];
  for (const city of cities) {
    outputs.push((yield context.df.callActivity(SAY_HELLO_ACTIVITY, city)) as string);
  }
  return outputs;
};

const sayHello: ActivityHandler = (city: string): string => greet(city);

/** Starts any orchestration by name: POST /api/orchestrators/{orchestratorName} with a JSON input. */
const startOrchestration: HttpHandler = async (
  req: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponse> => {
  const client = df.getClient(context);
  const text = await req.text();
  const input: unknown = text ? JSON.parse(text) : undefined;
  const instanceId = await client.startNew(req.params.orchestratorName ?? HELLO_ORCHESTRATION, { input });
  context.log(`Started orchestration with ID = '${instanceId}'.`);
  return client.createCheckStatusResponse(req, instanceId);
};

df.app.orchestration(HELLO_ORCHESTRATION, helloSequence);
df.app.activity(SAY_HELLO_ACTIVITY, { handler: sayHello });
app.http('startOrchestration', {
  route: 'orchestrators/{orchestratorName}',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: startOrchestration,
});
