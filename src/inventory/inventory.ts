/**
 * The inventory: the operator's hosts, databases and HTTP endpoints, which runbook target roles
 * they fill, and parameter values. Passwords are never literals: they come from an environment
 * variable or a masked prompt.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ValidationError, type Diagnostic } from '../core/errors.js';
import { ConninfoError, resolveDatabase, sslModes, type ResolvedDatabase } from './libpq.js';
import { duration, identifier, scalar, schemaKey } from '../core/schema-parts.js';
import {
  diagnosticAt,
  parseYamlText,
  readYamlSource,
  validateWithSchema,
  valueAt,
  type PathSegment,
  type YamlSource,
  type ZodIssueLike,
} from '../core/yaml-source.js';

export const secretRefSchema = z
  .union([
    z
      .object({
        env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
          .describe('Environment variable holding the secret.'),
      })
      .strict(),
    z.object({ prompt: z.literal(true).describe('Ask with a masked prompt (needs a terminal).') }).strict(),
  ])
  .describe('Where a secret comes from: {env: NAME} or {prompt: true}. Never a literal.');
export type SecretRef = z.infer<typeof secretRefSchema>;

/**
 * A value naming a host, user or database reaches programs' command lines (ssh, psql, pg_dump):
 * one starting with "-" would be read there as an option.
 */
const notAnOptionMessage = 'must not start with "-" (a program given it would read it as an option)';
const notAnOption = z.string().refine((v) => !v.startsWith('-'), { message: notAnOptionMessage });

const entryName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected a name of letters, digits, ".", "-" or "_"');

export const hostSchema = z
  .object({
    address: notAnOption.optional().describe('IP address or DNS name; default: the entry name (may be a ~/.ssh/config alias).'),
    port: z.number().int().min(1).max(65535).optional(),
    user: notAnOption.optional(),
    identityFile: z.string().optional().describe('Private key file; default: ssh-agent, then ~/.ssh/config IdentityFile.'),
    proxyJump: z
      .string()
      .optional()
      .describe('Jump hosts, as OpenSSH ProxyJump: [user@]host[:port], comma-separated for a chain; default: ~/.ssh/config.'),
    password: secretRefSchema.optional().describe('SSH password (prefer keys).'),
    passphrase: secretRefSchema.optional().describe('Passphrase of the identity file.'),
    vars: z.record(z.string(), scalar).optional().describe('Facts about the host, usable as {{ host.vars.<name> }}.'),
  })
  .strict();
export type HostEntry = z.infer<typeof hostSchema>;

export const databaseSchema = z
  .object({
    url: z
      .string()
      .optional()
      .describe('postgresql://user@host:port/database?sslmode=...: the fields it sets, unless written here (no password).'),
    service: z.string().optional().describe('A pg_service.conf section (PGSERVICEFILE, ~/.pg_service.conf, PGSYSCONFDIR).'),
    host: notAnOption.optional().describe('Default: url/service, then PGHOST, then localhost.'),
    port: z.number().int().min(1).max(65535).optional().describe('Default: url/service, then PGPORT, then 5432.'),
    database: notAnOption.optional().describe('Default: url/service, then PGDATABASE, then the user name.'),
    user: notAnOption.optional().describe('Default: url/service, then PGUSER, then the operator user name.'),
    password: secretRefSchema.optional().describe('Default: PGPASSWORD, then PGPASSFILE or ~/.pgpass.'),
    sslmode: z
      .enum(sslModes)
      .optional()
      .describe('As libpq; default: url/service, then PGSSLMODE, then prefer (TLS if the server offers it).'),
    sslrootcert: z.string().optional(),
  })
  .strict();
/** A database entry as written. */
export type DatabaseSpec = z.infer<typeof databaseSchema>;
/** A database entry with url/service and PG* defaults applied: what is shown and connected to. */
export type DatabaseEntry = ResolvedDatabase & { password?: SecretRef | undefined };

export const endpointSchema = z
  .object({
    url: z.string().url().describe('Base URL, e.g. https://support.example.com'),
    ca: z.string().optional().describe('CA certificate file (PEM) to verify the server certificate.'),
    insecure: z.boolean().optional().describe('Skip TLS verification (never in production).'),
    connectTimeout: duration.optional().describe('Give up when no connection is made within this time (default 10s).'),
    responseTimeout: duration
      .optional()
      .describe(
        'Give up when the response headers have not come this long after connecting (default 60s; the step timeout still bounds the whole).',
      ),
    auth: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('basic'), user: z.string(), password: secretRefSchema }).strict(),
        z.object({ type: z.literal('bearer'), token: secretRefSchema }).strict(),
        z
          .object({
            type: z.literal('oauth2-client-credentials'),
            tokenPath: z.string().default('/oauth2/token'),
            clientId: z.string(),
            clientSecret: secretRefSchema,
          })
          .strict(),
        z
          .object({
            type: z.literal('query'),
            user: z.string(),
            password: secretRefSchema,
            userParam: z.string().default('username'),
            passwordParam: z.string().default('password'),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict();
export type EndpointEntry = z.infer<typeof endpointSchema>;

export const inventorySchema = z
  .object({
    $schema: schemaKey,
    name: z.string().optional(),
    description: z.string().optional(),
    ssh: z
      .object({
        knownHostsFile: z.string().optional().describe('Default: UserKnownHostsFile of ~/.ssh/config, else ~/.ssh/known_hosts.'),
        configFile: z.string().optional().describe('Read instead of ~/.ssh/config and /etc/ssh/ssh_config (like ssh -F).'),
        connectTimeout: z.union([z.string(), z.number()]).optional(),
      })
      .strict()
      .optional(),
    hosts: z.record(entryName, hostSchema).default({}),
    databases: z.record(entryName, databaseSchema).default({}),
    endpoints: z.record(entryName, endpointSchema).default({}),
    roles: z
      .record(identifier, z.union([entryName, z.array(entryName)]))
      .default({})
      .describe('Which entries fill each runbook target role.'),
    parameters: z.record(identifier, scalar).default({}).describe('Parameter values (not secrets).'),
    answers: z.record(identifier, z.string()).default({}).describe('Pre-answered prompt steps, by step id (rehearsals).'),
  })
  .strict();

/** An inventory with its database entries resolved (url, service, PG* variables). */
export type InventorySpec = Omit<z.infer<typeof inventorySchema>, 'databases'> & { databases: Record<string, DatabaseEntry> };

export interface Inventory extends InventorySpec {
  file: string;
  hash: string;
  source: YamlSource;
}

export function inventoryJsonSchema(): unknown {
  return z.toJSONSchema(inventorySchema, { io: 'input', unrepresentable: 'any' });
}

/** `env` gives the PG* defaults of database entries (the operator's environment). */
export function loadInventory(file: string, env: NodeJS.ProcessEnv = process.env): Inventory {
  return checkInventory(readYamlSource(file), env);
}

/** An inventory made by the tool itself (e.g. a smoke run against one database URL). */
export function parseInventory(file: string, text: string, env: NodeJS.ProcessEnv = process.env): Inventory {
  return checkInventory(parseYamlText(file, text), env);
}

function checkInventory({ source, diagnostics }: { source?: YamlSource; diagnostics: Diagnostic[] }, env: NodeJS.ProcessEnv): Inventory {
  if (!source)
    throw new ValidationError(diagnostics, undefined, [{ stage: 'inventory schema and rules', reason: 'its YAML does not parse' }]);
  const file = source.file;
  const { value, diagnostics: schemaProblems } = validateWithSchema(source, inventorySchema, describeSecretIssue);
  if (!value)
    throw new ValidationError(schemaProblems, undefined, [
      { stage: 'inventory rules (entry names, roles, databases)', reason: 'its schema errors come first' },
    ]);
  const problems = checkInventoryRules(source, value);
  const databases: Record<string, DatabaseEntry> = {};
  for (const [name, entry] of Object.entries(value.databases)) {
    try {
      databases[name] = { ...resolveDatabase(entry, env), ...(entry.password ? { password: entry.password } : {}) };
      // The same rule for what a url, a service or a PG* variable filled in.
      for (const field of ['host', 'database', 'user'] as const) {
        if (!String(databases[name][field] ?? '').startsWith('-')) continue;
        problems.push(
          diagnosticAt(source, ['databases', name], `database ${name}: its ${field} (from url, service or PG*) ${notAnOptionMessage}`),
        );
      }
    } catch (error) {
      if (!(error instanceof ConninfoError)) throw error;
      const field = error.field in entry ? error.field : undefined;
      problems.push(diagnosticAt(source, ['databases', name, ...(field ? [field] : [])], `database ${name}: ${error.message}`));
    }
  }
  if (problems.some((d) => d.severity === 'error')) throw new ValidationError(problems);
  return { ...value, databases, file, source, hash: createHash('sha256').update(source.text).digest('hex') };
}

function checkInventoryRules(source: YamlSource, inv: z.infer<typeof inventorySchema>): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const names = new Map<string, string>();
  for (const [section, entries] of [
    ['hosts', inv.hosts],
    ['databases', inv.databases],
    ['endpoints', inv.endpoints],
  ] as const) {
    for (const name of Object.keys(entries)) {
      const other = names.get(name);
      if (other)
        problems.push(diagnosticAt(source, [section, name], `name "${name}" is also used in ${other}: entry names must be unique`));
      names.set(name, section);
    }
  }
  for (const [name, endpoint] of Object.entries(inv.endpoints)) {
    if (endpoint.auth?.type === 'query')
      problems.push(
        diagnosticAt(
          source,
          ['endpoints', name, 'auth', 'type'],
          'auth type "query" puts the password in the URL, where appliance and proxy logs keep it: refused; use basic, bearer or oauth2-client-credentials',
        ),
      );
  }
  for (const [role, value] of Object.entries(inv.roles)) {
    for (const [i, name] of [value].flat().entries()) {
      if (!names.has(name)) {
        problems.push(
          diagnosticAt(
            source,
            Array.isArray(value) ? ['roles', role, i] : ['roles', role],
            `role "${role}" names "${name}", which is not a host, database or endpoint of this inventory`,
          ),
        );
      }
    }
  }
  return problems;
}

/** The kind of entry a name refers to. */
export function entryKind(inv: InventorySpec, name: string): 'hosts' | 'database' | 'http' | undefined {
  if (name in inv.hosts) return 'hosts';
  if (name in inv.databases) return 'database';
  if (name in inv.endpoints) return 'http';
  return undefined;
}

const secretFields = new Set(['password', 'passphrase', 'token', 'clientSecret']);

/** A literal where a secret reference belongs: say what is expected, and never echo the value. */
function describeSecretIssue(issue: ZodIssueLike, data: unknown): string | undefined {
  const path = issue.path.filter((p): p is PathSegment => typeof p === 'string' || typeof p === 'number');
  const field = path[path.length - 1];
  if (issue.code !== 'invalid_union' || typeof field !== 'string' || !secretFields.has(field)) return undefined;
  const found = valueAt(data, path);
  const what =
    typeof found === 'string'
      ? 'a literal string'
      : found === null
        ? 'null'
        : Array.isArray(found)
          ? 'a list'
          : typeof found === 'object'
            ? 'a mapping with other fields'
            : `a ${typeof found}`;
  return `expected {env: NAME} or {prompt: true}, found ${what} (a ${field} is never written in the inventory)`;
}
