/**
 * A fake Application Insights ingestion endpoint: HTTPS on 127.0.0.1 (a port of its own) with a
 * self-signed certificate made at start with openssl in a temp folder (deleted on close; no key material
 * is kept). It takes `POST /v2.1/track` (and `/v2/track`) JSON arrays of envelopes, gzipped or not, and
 * keeps them for the test; anything else (Live Metrics pings) is counted and answered 200.
 *
 * The SDK under test must trust the certificate: pass `caFile` as NODE_EXTRA_CA_CERTS to the process.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** One telemetry item as the SDK sends it (the Breeze envelope). */
export interface Envelope {
  name: string;
  time: string;
  iKey?: string;
  tags: Record<string, string>;
  data: { baseType: string; baseData: Record<string, any> };
}

export interface IngestionFake {
  port: number;
  /** APPLICATIONINSIGHTS_CONNECTION_STRING pointing every endpoint at this fake. */
  connectionString: string;
  /** The certificate, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  /** Every envelope received, in arrival order. */
  envelopes: Envelope[];
  /** Requests that were not track calls (`METHOD path`). */
  otherRequests: string[];
  /** Resolves with the envelopes once `done(envelopes)` holds; fails with what arrived after `timeoutMs`. */
  waitFor(done: (envelopes: Envelope[]) => boolean, timeoutMs?: number): Promise<Envelope[]>;
  close(): Promise<void>;
}

/** The instrumentation key in the fake's connection string. */
export const FAKE_IKEY = '11111111-2222-3333-4444-555555555555';

function makeCertificate(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    '/usr/bin/openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}

export async function startIngestionFake(): Promise<IngestionFake> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingestion-fake-'));
  const files = makeCertificate(dir);
  const envelopes: Envelope[] = [];
  const otherRequests: string[] = [];
  const waiters = new Set<() => void>();

  const server = https.createServer(
    { key: fs.readFileSync(files.key), cert: fs.readFileSync(files.cert) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = req.url ?? '';
        if (req.method !== 'POST' || !/^\/v2(\.1)?\/track/.test(url)) {
          otherRequests.push(`${req.method} ${url}`);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          return;
        }
        let items: Envelope[];
        try {
          let body = Buffer.concat(chunks);
          if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
          const parsed = JSON.parse(body.toString('utf8')) as Envelope | Envelope[];
          items = Array.isArray(parsed) ? parsed : [parsed];
        } catch (err) {
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: String(err) }));
          return;
        }
        envelopes.push(...items);
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ itemsReceived: items.length, itemsAccepted: items.length, errors: [] }));
        for (const wake of [...waiters]) wake();
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `https://127.0.0.1:${port}/`;

  const waitFor = (done: (e: Envelope[]) => boolean, timeoutMs = 10_000): Promise<Envelope[]> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!done(envelopes)) return false;
        cleanup();
        resolve(envelopes);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = envelopes.map((e) => `${e.data.baseType}:${String(e.data.baseData.name ?? '')}`);
        reject(new Error(`telemetry did not arrive within ${timeoutMs} ms; got ${JSON.stringify(seen)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
      };
      const wake = (): void => void check();
      if (!check()) waiters.add(wake);
    });

  return {
    port,
    connectionString: `InstrumentationKey=${FAKE_IKEY};IngestionEndpoint=${endpoint};LiveEndpoint=${endpoint}`,
    caFile: files.cert,
    envelopes,
    otherRequests,
    waitFor,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Envelopes of one kind: `RequestData`, `RemoteDependencyData`, `MetricData`, `EventData`, ... */
export const ofType = (envelopes: Envelope[], baseType: string): Envelope[] =>
  envelopes.filter((e) => e.data.baseType === baseType);

/** Dependency (span) envelopes with this name. */
export const spansNamed = (envelopes: Envelope[], name: string): Envelope[] =>
  ofType(envelopes, 'RemoteDependencyData').filter((e) => e.data.baseData.name === name);

/** Each metric data point, flattened: name, value, count and its dimensions. */
export function metricPoints(
  envelopes: Envelope[],
): { name: string; value: number; count?: number; properties: Record<string, string> }[] {
  return ofType(envelopes, 'MetricData').flatMap((e) =>
    (e.data.baseData.metrics as { name: string; value: number; count?: number }[]).map((m) => ({
      name: m.name,
      value: m.value,
      count: m.count,
      properties: (e.data.baseData.properties ?? {}) as Record<string, string>,
    })),
  );
}
