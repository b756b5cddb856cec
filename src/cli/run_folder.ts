import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { PresetName } from '../train/presets';
import { floatOption, intOption } from './common';
import { join } from 'node:path';
import { ensureWritableDir, removeStaleTemps, writeFileAtomic } from '../io/atomic';
import { BertTokenizer } from '../tokenizer';

/** What was typed, quoted where needed, for run records and model cards. */
export function commandLine(): string {
  return ['bert-20news', ...process.argv.slice(2)].map((a) => (/^[\w./:=,-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** Removes temporary files that an interrupted atomic write left in a run's folders. */
export function removeInterruptedWrites(dirs: string[]): void {
  for (const dir of dirs) {
    const stale = removeStaleTemps(dir);
    if (stale.length) process.stderr.write(`removed ${stale.length} temporary file(s) of an interrupted write in ${dir}\n`);
  }
}

/**
 * Ctrl-C (or SIGTERM) asks the training loop to stop after its current step and save a
 * checkpoint; a second one quits at once.
 */
export function stopOnSignal(): { readonly requested: boolean } {
  const flag = { requested: false };
  const onSignal = () => {
    if (flag.requested) process.exit(130);
    flag.requested = true;
    process.stderr.write('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return flag;
}

/** The training progress bar: redrawn on a terminal, a line every 30 s elsewhere when `progress`. */
export function progressBar(format: string, progress: boolean): SingleBar {
  return new SingleBar({
    format, hideCursor: process.stderr.isTTY === true, noTTYOutput: progress, notTTYSchedule: 30_000, etaBuffer: 20, barsize: 25,
  });
}

/** The options of addRunOptions (and --preset, --epochs, --lr, --seed, which each command describes its own way). */
export interface RunOptions {
  init?: string;
  preset: PresetName;
  out: string;
  vocab?: string;
  resume?: boolean;
  threads?: number;
  progress: boolean;
  epochs?: number;
  batchSize?: number;
  microBatch?: number;
  lr?: number;
  maxLength?: number;
  seed?: number;
  dropout?: number;
  attentionDropout?: number;
  layers?: number;
  dim?: number;
  heads?: number;
  ffn?: number;
}

/** The flags that train and pretrain share: where a run starts and lives, its batches and model shape. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--init <model>', 'model folder, Hugging Face model id, or "scratch"')
    .requiredOption('--out <dir>', 'run folder: run.json, checkpoint.safetensors, model/')
    .option('--vocab <path>', 'vocab.txt for --init scratch (default: download distilbert-base-uncased\'s)')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--threads <n>', 'CPU threads', intOption(1))
    .option('--no-progress', 'no progress bar')
    .option('--batch-size <n>', 'texts per optimizer step', intOption(1))
    .option('--micro-batch <n>', 'texts per forward/backward (gradients accumulate up to --batch-size)', intOption(1))
    .option('--max-length <n>', 'tokens per text, [CLS] and [SEP] included', intOption(2))
    .option('--dropout <p>', 'hidden dropout', floatOption(0, 0.99))
    .option('--attention-dropout <p>', 'attention dropout', floatOption(0, 0.99))
    .option('--layers <n>', 'layers (--init scratch)', intOption(1))
    .option('--dim <n>', 'model dim (--init scratch)', intOption(1))
    .option('--heads <n>', 'attention heads (--init scratch)', intOption(1))
    .option('--ffn <n>', 'FFN hidden dim (--init scratch)', intOption(1));
}

/** After a stopped loop: says where the checkpoint is and how to continue, and exits with 130 (as after Ctrl-C). */
export function exitIfInterrupted(result: { interrupted: boolean; state: { epoch: number; stepInEpoch: number } }, command: string, out: string, ckptFile: string): void {
  if (!result.interrupted) return;
  process.stderr.write(`checkpoint saved at epoch ${result.state.epoch}, step ${result.state.stepInEpoch}: ${ckptFile}\n` +
    `continue with: bert-20news ${command} --out ${out} --resume\n`);
  process.exit(130);
}

/** A fresh run's files before its first step: its tokenizer (vocab.txt, tokenizer_config.json) and its record (run.json). */
export function writeRunStart(out: string, tokenizer: BertTokenizer, record: object): void {
  const tokDir = join(out, 'tokenizer');
  ensureWritableDir(tokDir);
  writeFileAtomic(join(tokDir, 'vocab.txt'), [Buffer.from(tokenizer.vocab.idToToken.join('\n') + '\n')]);
  writeFileAtomic(join(tokDir, 'tokenizer_config.json'), [Buffer.from(JSON.stringify({ do_lower_case: tokenizer.lowercase, model_max_length: tokenizer.modelMaxLength }) + '\n')]);
  writeFileAtomic(join(out, 'run.json'), [Buffer.from(JSON.stringify(record, null, 2) + '\n')]);
}
