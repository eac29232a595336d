/**
 * `@azure/functions-core` as a module file, for runtimes that resolve modules themselves (jest maps
 * the id here). It forwards to the registry installed by the local host.
 */
import { currentRegistry, FunctionRegistry, setCurrentRegistry } from './core';

function api(): FunctionRegistry['coreApi'] {
  let registry = currentRegistry();
  if (!registry) {
    registry = new FunctionRegistry();
    setCurrentRegistry(registry);
  }
  return registry.coreApi;
}

module.exports = new Proxy(
  {},
  {
    get: (_t, prop: string | symbol) => (api() as Record<string | symbol, unknown>)[prop],
    has: (_t, prop) => prop in api(),
  },
);
