/**
 * Terminal styling. chalk lives here and in the renderers only. Colour is off when NO_COLOR is
 * set (https://no-color.org), when output is not a terminal, or with --no-color.
 */
import { Chalk, type ChalkInstance } from 'chalk';

export function createStyle(options: { color?: boolean; stream?: NodeJS.WriteStream } = {}): ChalkInstance {
  const stream = options.stream ?? process.stdout;
  const noColorEnv = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  const forced = process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0';
  const enabled = options.color ?? (!noColorEnv && (forced || Boolean(stream.isTTY)));
  return new Chalk({ level: enabled ? 1 : 0 });
}
