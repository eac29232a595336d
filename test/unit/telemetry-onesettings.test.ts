/**
 * The Azure Monitor exporter's OneSettings worker (it would poll settings.sdk.monitor.azure.com 5–15 s
 * after start) is stopped by the telemetry set-up: nothing may leave loopback.
 */
import * as path from 'node:path';
import { stopDynamicConfiguration } from '../../src/telemetry/setup';

interface Manager {
  initialize(profile?: object): void;
  worker?: unknown;
}

it('stops the exporter worker that polls Microsoft OneSettings', () => {
  const entry = require.resolve('@azure/monitor-opentelemetry-exporter', {
    paths: [path.dirname(require.resolve('applicationinsights'))],
  });
  const file = path.join(path.dirname(entry), '_configuration', 'configurationManager.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the exporter's own module instance
  const { ConfigurationManager } = require(file) as { ConfigurationManager: { getInstance(): Manager } };
  const manager = ConfigurationManager.getInstance();
  manager.initialize({}); // what every exporter's constructor does
  expect(manager.worker).toBeDefined();
  expect(stopDynamicConfiguration()).toBe(true);
  expect(manager.worker).toBeUndefined();
});
