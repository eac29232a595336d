/**
 * An in-process Cosmos DB stand-in for tests and benchmarks: @vercel/cosmosdb-server on 127.0.0.1,
 * port 0, with clients for it. HTTPS with a throwaway self-signed certificate made by the openssl CLI
 * at start (trusted through the clients' own agent: nothing global, no key material kept), or plain
 * HTTP when openssl is missing or `tls: false` is asked for. Endpoint discovery is off in every
 * client, so the SDK only ever talks to this loopback address.
 * The stand-in keeps everything in memory and has no TTL, no change feed and no rollback of failed
 * batches; OFFSET LIMIT and the query `partitionKey` option do not work (../shared/design).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { createHttpServer, createHttpsServer } from '@vercel/cosmosdb-server';

/** Any base64 string: the stand-in checks no signature. Not a secret. */
export const STAND_IN_KEY = Buffer.from('cosmosdb-server stand-in').toString('base64');

export interface CosmosTestServer {
  /** `https://127.0.0.1:<port>` (or http). */
  endpoint: string;
  tls: boolean;
  /** A new client on the server; whoever gets it disposes it (the stores do on close()). */
  client(): CosmosClient;
  /** A database id not used before on this server (each test gets a clean slate). */
  freshDatabase(): string;
  close(): Promise<void>;
}

/** Whether the openssl CLI is on PATH. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A self-signed certificate for 127.0.0.1, valid for a day; the files are deleted at once. */
function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmos-cert-'));
  try {
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        .concat(['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'])
        .concat(['-addext', 'subjectAltName=IP:127.0.0.1']),
      { stdio: 'ignore' },
    );
    return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startCosmosServer(options: { tls?: boolean } = {}): Promise<CosmosTestServer> {
  const tls = options.tls ?? hasOpenssl();
  const pair = tls ? selfSignedCertificate() : undefined;
  // keepAlive: without it the stand-in answers `connection: close` and every request pays a handshake.
  const server = pair
    ? createHttpsServer({ ...pair, keepAlive: true })
    : createHttpServer({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  // Over HTTP the SDK must use its own agent: with a custom one it refuses plain-text connections.
  const agent = pair && new https.Agent({ ca: pair.cert, keepAlive: true });
  let databases = 0;
  return {
    endpoint,
    tls,
    client: () =>
      new CosmosClient({
        endpoint,
        key: STAND_IN_KEY,
        ...(agent && { agent }),
        connectionPolicy: { enableEndpointDiscovery: false },
      }),
    freshDatabase: () => `db${++databases}`,
    close: async () => {
      agent?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
