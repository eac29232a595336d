/**
 * The HTTP trigger routes of an app, ordered like the Functions host orders them (most specific
 * first), and the lookup of a request against them.
 */
import type { Registration } from '../worker/core';
import { compareRoutes, matchRoute, parseRouteTemplate, splitPath, type RouteTemplate } from './routes';

export interface HttpRoute {
  reg: Registration;
  template: RouteTemplate;
  /** The route as declared, without the prefix (for messages). */
  route: string;
  /** Upper-case; undefined means every method. */
  methods: string[] | undefined;
  authLevel: string;
}

export type RouteLookup =
  | { kind: 'match'; route: HttpRoute; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

/** `extensions.http.routePrefix` from host.json: `api` unless set (an empty string means no prefix). */
export function normalizePrefix(prefix: string | undefined): string {
  return (prefix ?? 'api').trim().replace(/^\/+|\/+$/g, '');
}

export function isHttpTrigger(reg: Registration): boolean {
  return reg.trigger.type.toLowerCase() === 'httptrigger';
}

export class RouteTable {
  readonly routes: HttpRoute[];

  /** Functions whose route does not parse are left out and reported through `onError`. */
  constructor(
    regs: Iterable<Registration>,
    routePrefix: string | undefined,
    onError: (reg: Registration, err: Error) => void,
  ) {
    const prefix = normalizePrefix(routePrefix);
    const routes: HttpRoute[] = [];
    for (const reg of regs) {
      if (!isHttpTrigger(reg)) continue;
      const route =
        typeof reg.trigger.route === 'string' && reg.trigger.route.trim() !== ''
          ? reg.trigger.route
          : reg.name;
      try {
        const template = parseRouteTemplate(prefix ? `${prefix}/${route.replace(/^\/+/, '')}` : route);
        routes.push({ reg, template, route, methods: methodsOf(reg), authLevel: authLevelOf(reg) });
      } catch (err) {
        onError(reg, err as Error);
      }
    }
    this.routes = routes.sort((a, b) => compareRoutes(a.template, b.template));
  }

  routeOf(reg: Registration): HttpRoute | undefined {
    return this.routes.find((r) => r.reg === reg);
  }

  /** The most specific route that matches path and method; else whether some route matched the path. */
  lookup(method: string, pathname: string): RouteLookup {
    const path = splitPath(pathname);
    const allow = new Set<string>();
    const upper = method.toUpperCase();
    for (const route of this.routes) {
      const params = matchRoute(route.template, path);
      if (!params) continue;
      if (!route.methods || route.methods.includes(upper)) return { kind: 'match', route, params };
      route.methods.forEach((m) => allow.add(m));
    }
    return allow.size > 0 ? { kind: 'method-not-allowed', allow: [...allow] } : { kind: 'not-found' };
  }
}

function methodsOf(reg: Registration): string[] | undefined {
  const methods = reg.trigger.methods;
  if (!Array.isArray(methods) || methods.length === 0) return undefined;
  return methods.map((m) => String(m).toUpperCase());
}

function authLevelOf(reg: Registration): string {
  const level = reg.trigger.authLevel;
  return typeof level === 'string' && level !== '' ? level.toLowerCase() : 'function';
}
