/**
 * Job intake benchmark (informational): jobs sent with the real @azure/service-bus SDK to the local
 * host's AMQP endpoint, measured from the first send until every job's run has started (its intake
 * message completed, which happens once the orchestration is scheduled). Jobs run the echo agent on
 * the offline model. Run by `npm run bench`, or alone: `node dist/scripts/bench-intake.js [--quick]`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ServiceBusClient, type ServiceBusMessage } from '@azure/service-bus';
import { freePort, ROOT, spawnHost, waitForHttp } from '../test/helpers/child-host';

export interface IntakeBenchRow {
  benchmark: string;
  result: string;
  target: string;
}

interface EntityCounts {
  path: string;
  active: number;
  locked: number;
  scheduled: number;
  deadLettered: number;
}

async function jobsLeft(base: string): Promise<EntityCounts | undefined> {
  const res = await fetch(`${base}/admin/servicebus/entities`);
  const { entities } = (await res.json()) as { entities: EntityCounts[] };
  return entities.find((e) => e.path === 'agent-jobs');
}

export async function intakeBenchmark(quick = false): Promise<IntakeBenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lh-bench-intake-'));
  const amqpPort = await freePort();
  const host = await spawnHost(
    ROOT,
    path.join(dir, 'data'),
    {
      LLM_PROVIDER: 'offline',
      CATALOG_SQLITE_PATH: path.join(dir, 'db', 'catalog.sqlite'),
      RUN_SQLITE_PATH: path.join(dir, 'db', 'runs.sqlite'),
      ServiceBusConnection: '',
    },
    ['--amqp-port', String(amqpPort)],
  );
  const total = quick ? 200 : 1000;
  const client = new ServiceBusClient(
    `Endpoint=sb://127.0.0.1:${amqpPort};SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`,
  );
  try {
    await waitForHttp(`${host.baseUrl}/api/health`, 30_000);
    const sender = client.createSender('agent-jobs');
    const job = (i: number): ServiceBusMessage => ({
      body: { jobId: `bench-${i}`, agentType: 'echo', input: { prompt: `job ${i}` } },
      messageId: `bench-${i}`,
    });
    const t0 = performance.now();
    for (let i = 0; i < total; i += 100) {
      const batch = await sender.createMessageBatch();
      for (let j = i; j < Math.min(total, i + 100); j++) {
        if (!batch.tryAddMessage(job(j))) throw new Error('a job did not fit in the batch');
      }
      await sender.sendMessages(batch);
    }
    const sent = performance.now() - t0;
    for (;;) {
      const left = await jobsLeft(host.baseUrl);
      if (left && left.active + left.locked + left.scheduled === 0) {
        if (left.deadLettered) throw new Error(`${left.deadLettered} jobs were dead-lettered`);
        break;
      }
      if (performance.now() - t0 > 120_000) throw new Error(`intake did not finish: ${JSON.stringify(left)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const started = performance.now() - t0;
    await sender.close();
    return [
      {
        benchmark: `job intake: ${total} agent-jobs messages (SDK over AMQP) until every run started`,
        result:
          `${Math.round((total / started) * 1000)} jobs/s (${(started / 1000).toFixed(2)} s; ` +
          `sending took ${(sent / 1000).toFixed(2)} s)`,
        target: 'informational',
      },
    ];
  } finally {
    await client.close();
    await host.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  intakeBenchmark(process.argv.includes('--quick')).then(
    (rows) => rows.forEach((r) => console.log(`${r.benchmark}: ${r.result} (target ${r.target})`)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
