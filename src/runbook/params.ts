/**
 * Parameter values: command line over inventory over environment over default. Values are
 * checked against their definition; a missing one is asked for on a terminal, and is an error
 * without one. Secret values never enter the plan: only where they come from.
 */
import type { Diagnostic } from '../core/errors.js';
import { checkParameterValue } from './load.js';
import type { ParameterSpec } from './schema.js';
import type { Scalar } from '../core/template.js';
import { diagnosticAt, type YamlSource } from '../core/yaml-source.js';

/** A parameter's value as templates see it: secrets stay symbolic until a step runs. */
export type ParameterValue = { value: Scalar } | { secret: true };

/** What the plan shows of a parameter: its value (never a secret's) and where it came from. */
export interface PlannedParameter {
  name: string;
  type: string;
  secret: boolean;
  /** Absent for secrets. */
  value?: Scalar;
  source: 'default' | 'inventory' | 'command line' | 'environment' | 'prompt' | 'example';
  /** For secrets: where the value will come from at run time. */
  from?: string;
}

export interface ParameterSources {
  commandLine: Record<string, string>;
  inventory: Record<string, Scalar>;
  inventoryFile?: string;
  /** The parsed inventory, to place problems with its parameter values at their line and column. */
  inventorySource?: YamlSource;
  env: NodeJS.ProcessEnv;
  /** Asks for a missing value (on a terminal); absent without one. */
  ask?: (name: string, spec: ParameterSpec) => Promise<string>;
  /**
   * False when a missing value is not a problem yet: it may be in an inventory that does not
   * load, or be asked for once the rest of the input is valid.
   */
  reportMissing?: boolean;
}

export interface ResolvedParameters {
  values: Record<string, ParameterValue>;
  info: PlannedParameter[];
  diagnostics: Diagnostic[];
}

export function coerce(spec: ParameterSpec, text: string): Scalar {
  if (spec.type === 'integer' && /^-?\d+$/.test(text.trim())) return Number(text.trim());
  if (spec.type === 'boolean') {
    const t = text.trim().toLowerCase();
    if (['true', 'yes', 'y', '1', 'on'].includes(t)) return true;
    if (['false', 'no', 'n', '0', 'off'].includes(t)) return false;
  }
  return text;
}

export async function resolveParameters(defs: Record<string, ParameterSpec>, sources: ParameterSources): Promise<ResolvedParameters> {
  const values: Record<string, ParameterValue> = {};
  const info: PlannedParameter[] = [];
  const diagnostics: Diagnostic[] = [];
  const problem = (file: string, path: string, message: string) => diagnostics.push({ severity: 'error', file, path, message });
  const inventoryProblem = (name: string, message: string, severity: Diagnostic['severity'] = 'error') =>
    diagnostics.push(
      sources.inventorySource
        ? diagnosticAt(sources.inventorySource, ['parameters', name], message, severity)
        : { severity, file: sources.inventoryFile ?? '(inventory)', path: `parameters.${name}`, message },
    );

  for (const name of Object.keys(sources.commandLine)) {
    if (!(name in defs))
      problem(
        '(command line)',
        `--param ${name}`,
        `unknown parameter "${name}"; this runbook takes ${Object.keys(defs).join(', ') || 'no parameters'}`,
      );
  }
  for (const name of Object.keys(sources.inventory)) {
    if (!(name in defs)) {
      inventoryProblem(name, `parameter "${name}" is not used by this runbook`, 'warning');
    }
  }

  for (const [name, spec] of Object.entries(defs)) {
    if (spec.type === 'secret') {
      const secretMessage = `"${name}" is a secret: give it through ${spec.env ? `the environment variable ${spec.env}` : 'the masked prompt'}, never as a literal`;
      if (name in sources.commandLine) problem('(command line)', `--param ${name}`, secretMessage);
      else if (name in sources.inventory) inventoryProblem(name, secretMessage);
      values[name] = { secret: true };
      info.push({
        name,
        type: spec.type,
        secret: true,
        source: spec.env && sources.env[spec.env] !== undefined ? 'environment' : 'prompt',
        from: spec.env ? `env ${spec.env}` : 'prompt',
      });
      continue;
    }
    let value: Scalar | undefined;
    let source: PlannedParameter['source'] = 'default';
    let where = '(command line)';
    if (name in sources.commandLine) {
      value = coerce(spec, sources.commandLine[name] ?? '');
      source = 'command line';
    } else if (name in sources.inventory) {
      value = sources.inventory[name];
      source = 'inventory';
      where = sources.inventoryFile ?? '(inventory)';
      if (typeof value === 'string') value = coerce(spec, value);
    } else if (spec.env && sources.env[spec.env] !== undefined) {
      value = coerce(spec, sources.env[spec.env] ?? '');
      source = 'environment';
      where = `(environment ${spec.env})`;
    } else if (spec.default !== undefined) {
      value = spec.default;
    } else if (sources.ask) {
      value = coerce(spec, await sources.ask(name, spec));
      source = 'prompt';
    }
    if (value === undefined) {
      if (sources.reportMissing === false) continue;
      problem(
        '(command line)',
        name,
        `missing parameter "${name}" (${describeType(spec)}${spec.description ? `: ${spec.description}` : ''}): pass --param ${name}=<value> or set it under "parameters" in the inventory`,
      );
      continue;
    }
    const bad = checkParameterValue(spec, value);
    if (bad) {
      if (source === 'inventory') inventoryProblem(name, `parameter "${name}": ${bad}`);
      else problem(where, source === 'command line' ? `--param ${name}` : name, `parameter "${name}": ${bad}`);
      continue;
    }
    values[name] = { value };
    info.push({ name, type: spec.type, secret: false, value, source });
  }
  return { values, info, diagnostics };
}

export function describeType(spec: ParameterSpec): string {
  if (spec.type === 'enum') return `one of ${spec.values?.join(', ')}`;
  return spec.type;
}

/** Placeholder values for planning without an inventory (validation, `show`). */
export function exampleParameters(defs: Record<string, ParameterSpec>): ResolvedParameters {
  const values: Record<string, ParameterValue> = {};
  const info: PlannedParameter[] = [];
  for (const [name, spec] of Object.entries(defs)) {
    if (spec.type === 'secret') {
      values[name] = { secret: true };
      info.push({ name, type: spec.type, secret: true, source: 'example' });
      continue;
    }
    const value: Scalar =
      spec.default ??
      (spec.type === 'integer'
        ? (spec.min ?? 0)
        : spec.type === 'boolean'
          ? false
          : spec.type === 'enum'
            ? (spec.values?.[0] ?? '')
            : `<${name}>`);
    values[name] = { value };
    info.push({ name, type: spec.type, secret: false, value, source: 'example' });
  }
  return { values, info, diagnostics: [] };
}
