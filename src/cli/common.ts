import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { engine } from '../engine/native';
import { parseStrip, StripPart } from '../data/strip';
import { DeviceChoice } from '../model/model';

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

export interface DeviceOptions {
  device: string;
  precision: string;
  /** The hub revision (branch, tag or commit) when a model is given by id. */
  revision: string;
}

/** --strip's parser: the rules, typed, once (commander reports a bad one with the flag's name). */
export function stripOption(value: string): StripPart[] {
  try {
    return parseStrip(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** --device's parser: cpu, cuda (the first GPU) or cuda:N (GPU N, counted as nvidia-smi does). */
export function deviceOption(value: string): string {
  if (!/^(cpu|cuda(:(0|[1-9][0-9]*))?)$/.test(value)) throw new InvalidArgumentError('must be cpu, cuda or cuda:N (N: the GPU\'s index)');
  return value;
}

/** The typed device choice of --device and --precision. */
export function deviceChoice(o: DeviceOptions): DeviceChoice {
  return { device: o.device, precision: o.precision };
}

/** --device and --precision: where the model step runs (the engine's backends). */
export function addDeviceOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--device <name>', 'where the model runs: cpu, cuda (the first NVIDIA GPU) or cuda:N (GPU N); cuda needs the CUDA backend, see docs/gpu.md').argParser(deviceOption).default('cpu'))
    .addOption(new Option('--precision <p>', 'matrix products: fp32; bf16 (bfloat16 operands, fp32 accumulation and weights: cuda, or a CPU with AVX512_BF16/AMX); tf32 (cuda)').choices(['fp32', 'tf32', 'bf16']).default('fp32'))
    .option('--revision <rev>', 'hub revision (branch, tag or commit) of a model given by id', 'main');
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
