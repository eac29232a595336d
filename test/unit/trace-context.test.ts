/** The invocation trace context the local host hands Service Bus triggers. */
import { invocationTraceContext } from '../../src/local-host/worker/trace-context';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('invocationTraceContext', () => {
  it('continues a valid parent with a span id of its own, keeping its flags and state', () => {
    const t = invocationTraceContext(PARENT, 'congo=t61rcWkgMzE');
    expect(t.traceParent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(t.traceParent).not.toBe(PARENT);
    expect(t.traceState).toBe('congo=t61rcWkgMzE');
    expect(invocationTraceContext(PARENT.replace(/01$/, '00')).traceParent).toMatch(/-00$/);
  });

  it.each([
    undefined,
    '',
    'garbage',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
  ])('starts a new sampled trace for %p', (parent) => {
    const t = invocationTraceContext(parent, 'ignored=1');
    expect(t.traceParent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(t.traceParent).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(t.traceState).toBeUndefined();
  });
});
