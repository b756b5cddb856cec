import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { engine } from '../engine/native';

/** Integer option parser for commander that rejects junk with a clear message. */
export function intOption(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return n;
  };
}

export function floatOption(min: number, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`must be a number in [${min}, ${max}]`);
    return n;
  };
}

/** Sets the engine's threads (OpenMP and OpenBLAS together) when --threads was given. */
export function applyThreads(threads: number | undefined): void {
  if (threads !== undefined) engine().setThreads(threads);
}

export function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

/** Non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.trim() !== '');
}
