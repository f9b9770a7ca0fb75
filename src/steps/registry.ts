/** Every step kind, keyed by `kind`. Adding a kind touches its own file and this list. */
import { fileEditStep } from './file-edit.js';
import { httpStep } from './http.js';
import { localStep } from './local.js';
import { manualStep } from './manual.js';
import { promptStep } from './prompt.js';
import { sqlStep } from './sql.js';
import { sshStep } from './ssh.js';
import type { StepKind } from './types.js';
import { waitStep } from './wait.js';

export const stepKinds: ReadonlyArray<StepKind<never>> = [
  sshStep,
  sqlStep,
  localStep,
  httpStep,
  manualStep,
  promptStep,
  waitStep,
  fileEditStep,
] as never;

const byKind = new Map(stepKinds.map((k) => [k.kind, k]));

export function getStepKind(kind: string): StepKind<Record<string, unknown>> {
  const found = byKind.get(kind);
  if (!found) throw new Error(`unknown step kind "${kind}"`);
  return found;
}
