/**
 * Telemetry set-up (src/telemetry/setup.ts) with the SDK mocked: nothing is loaded, exported or thrown
 * without a connection string; with one, the Azure Monitor distro is set up once with our options, custom
 * events go out as OpenTelemetry log records the exporter turns into customEvents, and flush / shutdown
 * reach the SDK. A failing SDK leaves telemetry off with a warning, never a crash.
 */
import type { IncomingMessage } from 'node:http';

type Setup = typeof import('../../src/telemetry/setup');
type State = typeof import('../../src/telemetry/state');

const CS = 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/';

interface FakeSdk {
  loaded: boolean;
  useAzureMonitor: jest.Mock;
  flushAzureMonitor: jest.Mock;
  shutdownAzureMonitor: jest.Mock;
  emitted: unknown[];
}

/** Fresh modules with a fake `applicationinsights` and logs API; `fail` makes set-up throw. */
function load(options: { fail?: boolean } = {}): { setup: Setup; state: State; sdk: FakeSdk } {
  jest.resetModules();
  const sdk: FakeSdk = {
    loaded: false,
    useAzureMonitor: jest.fn(() => {
      if (options.fail) throw new Error('no exporter today');
    }),
    flushAzureMonitor: jest.fn(async () => undefined),
    shutdownAzureMonitor: jest.fn(async () => undefined),
    emitted: [],
  };
  jest.doMock('applicationinsights', () => {
    sdk.loaded = true;
    return sdk;
  });
  jest.doMock('@opentelemetry/api-logs', () => ({
    logs: { getLogger: () => ({ emit: (record: unknown) => sdk.emitted.push(record) }) },
  }));
  /* eslint-disable @typescript-eslint/no-require-imports -- fresh module instances per test */
  const setup = require('../../src/telemetry/setup') as Setup;
  const state = require('../../src/telemetry/state') as State;
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { setup, state, sdk };
}

afterEach(() => {
  jest.restoreAllMocks();
  jest.dontMock('applicationinsights');
  jest.dontMock('@opentelemetry/api-logs');
});

describe('without a connection string', () => {
  it('loads nothing, exports nothing and throws nothing', async () => {
    const { setup, state, sdk } = load();
    expect(setup.telemetrySettings({})).toEqual({ recordContent: false });
    expect(
      setup.telemetrySettings({
        APPLICATIONINSIGHTS_CONNECTION_STRING: '  ',
        TELEMETRY_RECORD_CONTENT: 'bad',
      }),
    ).toEqual({ recordContent: false });
    expect(setup.setupTelemetry({ recordContent: false })).toBe(false);
    expect(setup.setupTelemetry({ connectionString: ' ', recordContent: true })).toBe(false);
    expect(setup.isTelemetryEnabled()).toBe(false);
    expect(state.shouldRecordContent()).toBe(true);
    state.emitEvent({ name: 'RunCompleted', properties: {}, measurements: {} });
    await expect(setup.flushTelemetry()).resolves.toBeUndefined();
    await expect(setup.shutdownTelemetry()).resolves.toBeUndefined();
    expect(sdk.loaded).toBe(false);
    expect(sdk.emitted).toEqual([]);
  });

  it('leaves the OpenTelemetry API a no-op: spans, metrics and trace capture do nothing', async () => {
    const { setup } = load();
    setup.setupTelemetry(setup.telemetrySettings({}));
    /* eslint-disable @typescript-eslint/no-require-imports */
    const telemetry = require('../../src/telemetry') as typeof import('../../src/telemetry');
    /* eslint-enable @typescript-eslint/no-require-imports */
    expect(telemetry.currentTraceparent()).toBeUndefined();
    const span = telemetry.AgentRunSpan.start({ agent: 'echo', prompt: 'p' });
    await expect(span.track(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(() =>
      telemetry.LlmGenerationSpan.start('offline', { model: 'm', messages: [] }).close(),
    ).not.toThrow();
    expect(
      telemetry.withRunScope(
        { runId: 'r', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
        () => telemetry.currentTraceparent(),
      ),
    ).toBeUndefined();
  });
});

describe('with a connection string', () => {
  it('parses the settings with the config schema, naming a bad one', () => {
    const { setup } = load();
    expect(
      setup.telemetrySettings({
        APPLICATIONINSIGHTS_CONNECTION_STRING: ` ${CS} `,
        TELEMETRY_RECORD_CONTENT: '1',
      }),
    ).toEqual({ connectionString: CS, recordContent: true });
    expect(() =>
      setup.telemetrySettings({
        APPLICATIONINSIGHTS_CONNECTION_STRING: CS,
        TELEMETRY_RECORD_CONTENT: 'maybe',
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG.INVALID',
        message: expect.stringContaining('TELEMETRY_RECORD_CONTENT'),
      }),
    );
  });

  it('sets the distro up once, with our options', () => {
    const { setup, state, sdk } = load();
    expect(setup.setupTelemetry({ connectionString: CS, recordContent: false })).toBe(true);
    expect(setup.setupTelemetry({ connectionString: CS, recordContent: true })).toBe(true);
    expect(sdk.useAzureMonitor).toHaveBeenCalledTimes(1);
    expect(setup.isTelemetryEnabled()).toBe(true);
    expect(state.shouldRecordContent()).toBe(true);
    const options = sdk.useAzureMonitor.mock.calls[0][0];
    expect(options).toMatchObject({
      azureMonitorExporterOptions: { connectionString: CS },
      enableAutoCollectExceptions: false,
      instrumentationOptions: { http: { enabled: true } },
    });
    // The Functions host's hand-over of an HTTP stream is not a request of its own.
    const ignore = options.instrumentationOptions.http.ignoreIncomingRequestHook as (
      r: IncomingMessage,
    ) => boolean;
    expect(ignore({ headers: { 'x-ms-invocation-id': 'abc' } } as unknown as IncomingMessage)).toBe(true);
    expect(ignore({ headers: {} } as unknown as IncomingMessage)).toBe(false);
  });

  it('sends custom events as log records the exporter maps to customEvents', () => {
    const { setup, state, sdk } = load();
    setup.setupTelemetry({ connectionString: CS, recordContent: false });
    state.emitEvent({
      name: 'RunCompleted',
      properties: { 'run.id': 'r1' },
      measurements: { 'cost.usd': 0.5 },
    });
    expect(sdk.emitted).toEqual([
      {
        attributes: {
          'run.id': 'r1',
          'microsoft.custom_event.name': 'RunCompleted',
          'microsoft.custom_measurements': '{"cost.usd":0.5}',
        },
      },
    ]);
  });

  it('flushes and shuts down through the SDK; a later set-up starts again', async () => {
    const { setup, sdk } = load();
    setup.setupTelemetry({ connectionString: CS, recordContent: false });
    await setup.flushTelemetry();
    expect(sdk.flushAzureMonitor).toHaveBeenCalledTimes(1);
    await setup.shutdownTelemetry();
    await setup.shutdownTelemetry();
    expect(sdk.shutdownAzureMonitor).toHaveBeenCalledTimes(1);
    expect(setup.isTelemetryEnabled()).toBe(false);
    expect(setup.setupTelemetry({ connectionString: CS, recordContent: false })).toBe(true);
    expect(sdk.useAzureMonitor).toHaveBeenCalledTimes(2);
  });

  it('leaves telemetry off with a warning when the SDK fails, and survives a failing shutdown', async () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const failing = load({ fail: true });
    expect(failing.setup.setupTelemetry({ connectionString: CS, recordContent: false })).toBe(false);
    expect(failing.setup.isTelemetryEnabled()).toBe(false);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/telemetry is off.*no exporter today/);

    const { setup, sdk } = load();
    sdk.shutdownAzureMonitor.mockRejectedValueOnce(new Error('stuck'));
    setup.setupTelemetry({ connectionString: CS, recordContent: false });
    await expect(setup.shutdownTelemetry()).resolves.toBeUndefined();
    expect(String(warn.mock.calls[1]?.[0])).toMatch(/did not shut down cleanly: Error: stuck/);
  });
});

describe('exporterCredential', () => {
  it('is the managed identity the authentication string names (Authorization=AAD)', () => {
    const { setup } = load();
    const { exporterCredential } = setup;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the instance setup's require made
    const { ManagedIdentityCredential } = require('@azure/identity') as typeof import('@azure/identity');
    expect(exporterCredential('ClientId=0000-1111;Authorization=AAD')).toBeInstanceOf(
      ManagedIdentityCredential,
    );
    expect(exporterCredential(' authorization = aad ')).toBeInstanceOf(ManagedIdentityCredential);
  });

  it('is nothing without Entra authentication', () => {
    const { exporterCredential } = load().setup;
    for (const value of [undefined, '', 'Authorization=Key', 'ClientId=x', 'garbage']) {
      expect(exporterCredential(value)).toBeUndefined();
    }
  });

  it('comes from the settings and reaches the exporter options', () => {
    const { setup, sdk } = load();
    const settings = setup.telemetrySettings({
      APPLICATIONINSIGHTS_CONNECTION_STRING: CS,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=abc',
    });
    expect(settings).toMatchObject({ authenticationString: 'Authorization=AAD;ClientId=abc' });
    expect(setup.setupTelemetry(settings)).toBe(true);
    const options = sdk.useAzureMonitor.mock.calls[0]![0] as {
      azureMonitorExporterOptions: { credential?: unknown };
    };
    expect(options.azureMonitorExporterOptions.credential).toBeDefined();
    expect(
      setup.telemetrySettings({
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
      }),
    ).toMatchObject({ authenticationString: 'Authorization=AAD' });
  });
});
