/** What `{{ ... }}` references resolve to while planning one instance of an action. */
import type { Inventory, InventorySpec } from '../inventory/inventory.js';
import type { Resolved, Resolver, Scalar } from '../core/template.js';
import type { ParameterValue } from '../runbook/params.js';

export type { ParameterValue };

export interface ScopeInput {
  runbook: { id: string; title: string; version: string };
  inventory: InventorySpec & { file?: string };
  parameters: Record<string, ParameterValue>;
  /** Role -> entry names, as bound by the inventory. */
  roles: Record<string, string[]>;
  /** The entry the instance acts on, if any. */
  target: { type: 'hosts' | 'database' | 'http'; name: string } | null;
  /** Steps whose results may be referenced (those before this one). */
  earlierSteps: ReadonlySet<string>;
}

export function hostAddress(inv: InventorySpec, name: string): string {
  return inv.hosts[name]?.address ?? name;
}

export function describeEntry(inv: InventorySpec, name: string): string {
  const host = inv.hosts[name];
  if (host) return `${host.user ? `${host.user}@` : ''}${host.address ?? name}${host.port ? `:${host.port}` : ''}`;
  const db = inv.databases[name];
  if (db) return `postgresql://${db.user ? `${db.user}@` : ''}${db.host}:${db.port}/${db.database}`;
  const endpoint = inv.endpoints[name];
  if (endpoint) return endpoint.url;
  return name;
}

function entryFacts(inv: InventorySpec, name: string): Record<string, Scalar> | undefined {
  const host = inv.hosts[name];
  if (host) return { name, address: host.address ?? name, port: host.port ?? 22, user: host.user ?? '' };
  const db = inv.databases[name];
  if (db) return { name, host: db.host, port: db.port, database: db.database, user: db.user ?? '', address: db.host };
  const endpoint = inv.endpoints[name];
  if (endpoint) return { name, url: endpoint.url, address: new URL(endpoint.url).hostname };
  return undefined;
}

const value = (v: Scalar | Scalar[]): Resolved => ({ kind: 'value', value: v });

export function createResolver(input: ScopeInput): Resolver {
  return (path) => {
    const [head, ...rest] = path.split('.');
    switch (head) {
      case 'params': {
        const name = rest.join('.');
        const p = input.parameters[name];
        if (!p || rest.length !== 1) return undefined;
        return 'secret' in p ? { kind: 'secret', name } : value(p.value);
      }
      case 'host':
      case 'target':
      case 'db': {
        const t = input.target;
        if (!t) return undefined;
        if (head === 'host' && t.type !== 'hosts') return undefined;
        if (head === 'db' && t.type !== 'database') return undefined;
        if (rest[0] === 'vars' && rest.length === 2 && t.type === 'hosts') {
          const v = input.inventory.hosts[t.name]?.vars?.[rest[1] ?? ''];
          return v === undefined ? undefined : value(v);
        }
        const facts = entryFacts(input.inventory, t.name);
        const v = rest.length === 1 ? facts?.[rest[0] ?? ''] : undefined;
        return v === undefined ? undefined : value(v);
      }
      case 'roles': {
        const [role, field] = rest;
        const names = role === undefined ? undefined : input.roles[role];
        if (!names || rest.length !== 2) return undefined;
        const facts = names.map((n) => entryFacts(input.inventory, n));
        const first = facts[0];
        switch (field) {
          case 'names':
            return value(names);
          case 'addresses':
            return value(facts.map((f) => f?.address ?? ''));
          case 'count':
            return value(names.length);
          default: {
            const v = field === undefined ? undefined : first?.[field];
            return v === undefined ? undefined : value(v);
          }
        }
      }
      case 'steps': {
        const [id, field] = rest;
        if (!id || !field || rest.length !== 2 || !input.earlierSteps.has(id)) return undefined;
        if (!['value', 'status', 'stdout', 'exitCode'].includes(field)) return undefined;
        return { kind: 'deferred', ref: path };
      }
      case 'run':
        return rest.length === 1 && ['id', 'operator'].includes(rest[0] ?? '') ? { kind: 'deferred', ref: path } : undefined;
      case 'runbook': {
        const v = rest.length === 1 ? (input.runbook as unknown as Record<string, Scalar>)[rest[0] ?? ''] : undefined;
        return v === undefined ? undefined : value(v);
      }
      default:
        return undefined;
    }
  };
}

export type { Inventory };
