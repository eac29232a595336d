/** The RunService over the app's services: workflows resolved and validated by the registry's rules. */
import type { AppServices } from '../app';
import { RunService } from '../workflows/run-service';
import { resolveWorkflow, validateDefinition } from './workflows';

const cache = new WeakMap<AppServices, RunService>();

/** One RunService per composed services object. */
export function runServiceFor(services: AppServices): RunService {
  let service = cache.get(services);
  if (!service) {
    service = new RunService({
      runs: services.runs,
      resolveWorkflow: (id, version) => resolveWorkflow(services.catalog, id, version),
      validateDefinition: (definition) => validateDefinition(services.catalog, definition),
      publishResults: Boolean(
        services.config.serviceBus.connectionString ?? services.config.serviceBus.fullyQualifiedNamespace,
      ),
    });
    cache.set(services, service);
  }
  return service;
}
