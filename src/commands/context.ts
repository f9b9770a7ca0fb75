/** What every command gets from the CLI layer: options, output streams, styling. */
import type { ChalkInstance } from 'chalk';
import { createStyle } from '../ui/style.js';
import { runbookDirs } from '../runbook/catalog-files.js';

export interface CommandContext {
  json: boolean;
  style: ChalkInstance;
  errStyle: ChalkInstance;
  runbookDirs: string[];
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  /** True when a person can answer prompts. */
  interactive: boolean;
  print(text: string): void;
  printError(text: string): void;
}

export interface GlobalOptions {
  json?: boolean;
  color?: boolean;
  runbooks?: string[];
}

export function createContext(options: GlobalOptions): CommandContext {
  const color = options.color === false ? false : undefined;
  const stdout = process.stdout;
  const stderr = process.stderr;
  return {
    json: options.json ?? false,
    style: createStyle({ stream: stdout, ...(color === undefined ? {} : { color }) }),
    errStyle: createStyle({ stream: stderr, ...(color === undefined ? {} : { color }) }),
    runbookDirs: runbookDirs(options.runbooks ?? [], process.env),
    stdout,
    stderr,
    stdin: process.stdin,
    env: process.env,
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    print: (text) => void stdout.write(text.endsWith('\n') ? text : text + '\n'),
    printError: (text) => void stderr.write(text.endsWith('\n') ? text : text + '\n'),
  };
}
