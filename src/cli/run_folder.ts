import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { Newsgroups } from '../data/newsgroups';
import { Split, SplitName } from '../data/split';
import { checkStripParts, StripPart } from '../data/strip';
import { removeStaleTemps, writeFileAtomic } from '../io/atomic';
import { faultPoint } from '../io/fault';
import { FORMATS, migrateRunRecord } from '../io/migrations';
import { ParamStore } from '../io/params';
import { saveTokenizer } from '../io/save_tokenizer';
import { configToJson, ModelConfig, ModelHead, parseConfig, ProblemType } from '../model/config';
import { BertTokenizer } from '../tokenizer';
import { Checkpoint, loadCheckpoint } from '../train/checkpoint';
import { initialModel, ModelSettings } from '../train/initial_model';
import { LoopHooks } from '../train/loop';
import { PresetName } from '../train/presets';
import { DeviceOptions, floatOption, intOption } from './common';
import { DataOptions, loadSplit } from './data_options';
import { checkSettings, Schema } from './record_check';

/** What was typed, quoted where needed, for run records and model cards. */
export function commandLine(): string {
  return ['bert-20news', ...process.argv.slice(2)].map((a) => (/^[\w./:=,-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** Removes temporary files that an interrupted atomic write left in a run's folders. */
function removeInterruptedWrites(dirs: string[]): void {
  for (const dir of dirs) {
    const stale = removeStaleTemps(dir);
    if (stale.length) process.stderr.write(`removed ${stale.length} temporary file(s) of an interrupted write in ${dir}\n`);
  }
}

/**
 * Ctrl-C (or SIGTERM) asks the training loop to stop after its current step and save a
 * checkpoint; a second one quits at once.
 */
function stopOnSignal(): { readonly requested: boolean } {
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
function progressBar(format: string, progress: boolean): SingleBar {
  return new SingleBar({
    format, hideCursor: process.stderr.isTTY === true, noTTYOutput: progress, notTTYSchedule: 30_000, etaBuffer: 20, barsize: 25,
  });
}

/**
 * The loop's hooks on a command line: a progress bar on stderr (`progress`), each epoch's row on
 * stdout as it ends, and Ctrl-C / SIGTERM asking for a checkpoint and a stop. `done()` clears the bar.
 */
export function commandHooks<Step extends { step: number }, Row>(x: {
  progress: boolean; epochs: number; format: string;
  /** The bar's fields before the first step of an epoch, and after each step. */
  blank: Record<string, string>; fields(step: Step): Record<string, string>;
  /** stdout lines of an epoch's row; the header is printed before the first. */
  header: string; row(row: Row): string;
}): LoopHooks<Step, Row> & { done(): void } {
  const stop = stopOnSignal();
  const bar = progressBar(`epoch {epoch} |{bar}| {value}/{total} | ${x.format} | ETA {eta_formatted}`, x.progress);
  let printedHeader = false;
  return {
    onEpochStart: (epoch, start, total) => {
      if (x.progress) bar.start(total, start, { epoch: `${epoch + 1}/${x.epochs}`, ...x.blank });
    },
    onStep: (i) => {
      if (x.progress) bar.update(i.step, x.fields(i));
    },
    onEpochEnd: (row) => {
      if (x.progress) bar.stop();
      process.stdout.write((printedHeader ? '' : x.header) + x.row(row));
      printedHeader = true;
    },
    shouldStop: () => stop.requested,
    done: () => {
      if (x.progress) bar.stop();
    },
  };
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

/** What every run records at its start, so that --resume needs no other flag; tasks add their own fields. */
export interface RunRecord<S> {
  format?: number;
  settings: S;
  init: string;
  data: string;
  split: { name: SplitName; seed: number; validationList?: string; fraction?: number; validationData?: string };
  /** How the user's own data files are read (absent for 20 Newsgroups runs). */
  fields?: { textField?: string; textPairField?: string; labelField?: string; encoding?: 'utf-8' | 'latin1'; problemType?: ProblemType; labelSeparator?: string };
  strip: StripPart[];
  config: Record<string, unknown>;
  command: string;
}

/** What startRun reads of a task's settings. */
export interface RunSettings {
  maxLength: number;
  batchSize: number;
}

/** How a command starts a fresh run or resumes one: the task's parts. */
export interface RunStart<S extends RunSettings, R extends RunRecord<S>> {
  o: RunOptions & DataOptions & DeviceOptions;
  /** Flags that set a run's hyperparameters or start (option key, flag): a resumed run keeps the ones it recorded. */
  settingFlags: [string, string][];
  head: ModelHead;
  /** What the training part's examples are called in messages. */
  noun: string;
  /** The task's settings in a record (run.json, migrated), checked as strictly as its flags. */
  settingsSchema: Schema;
  /** Flags checked before anything is read or written (a fresh run only). */
  checkFlags?(): void;
  /** The fresh run's settings, parsed once from the flags. */
  settings(): S;
  /** What initialModel reads of the settings (recorded or fresh). */
  modelSettings(settings: S): ModelSettings;
  /** The task's own fields of a fresh run's record. */
  extraRecord?(settings: S): Partial<R>;
  /** Labels of the data set, for the classifier's head (none for masked LM). */
  labels(data: Newsgroups): string[];
  /** A fresh run's checks of its data (what the task cannot train on), before any file is written. */
  checkData?(data: Newsgroups): void;
  /** A fresh run's checks of its tokenizer, before any file is written. */
  checkTokenizer?(tokenizer: BertTokenizer): void;
}

export interface StartedRun<R> {
  record: R;
  data: Newsgroups;
  split: Split;
  config: ModelConfig;
  params: ParamStore;
  tokenizer: BertTokenizer;
  resume?: Checkpoint<never>;
  ckptFile: string;
  modelDir: string;
}

/** run.json, brought to the current form and checked (one line naming the file when it cannot be read). */
function readRunRecord<R>(path: string, schema: Schema): R {
  let r: R & RunRecord<unknown>;
  try {
    r = migrateRunRecord(JSON.parse(readFileSync(path, 'utf8')), path) as unknown as R & RunRecord<unknown>;
    if (!r.settings || !r.config || !r.split) throw new Error('fields are missing');
    r.strip = checkStripParts(r.strip, 'strip');
    const st = checkSettings<RunSettings & { microBatch: number }>(r.settings, schema);
    if (st.microBatch > st.batchSize) throw new Error(`settings.microBatch ${st.microBatch} is over settings.batchSize ${st.batchSize}`);
  } catch (e) {
    throw new Error(`${path}: not a readable run record (${(e as Error).message}); start the run again with another --out`);
  }
  return r;
}

/**
 * The run lifecycle on the command's side, shared by train and pretrain: a fresh run checks
 * everything it can, then writes its tokenizer and record before its first step; --resume reads
 * them back with the split and the last checkpoint (or starts the recorded run from step 0 when it
 * stopped before one).
 */
export async function startRun<S extends RunSettings, R extends RunRecord<S>>(x: RunStart<S, R>): Promise<StartedRun<R>> {
  const o = x.o;
  const runFile = join(o.out, 'run.json'), ckptFile = join(o.out, 'checkpoint.safetensors');
  const tokDir = join(o.out, 'tokenizer'), modelDir = join(o.out, 'model');
  removeInterruptedWrites([o.out, tokDir, modelDir]);
  const started = existsSync(runFile);
  const options = o as unknown as Record<string, unknown>;
  let out: StartedRun<R>;
  if (o.resume) {
    if (!started) {
      // Killed before its record was written, the run has nothing to resume from: it starts again.
      if (existsSync(o.out)) throw new Error(`${o.out} stopped before its run record (run.json) was written: run the same command without --resume to start it`);
      throw new Error(`${runFile} not found: nothing to resume in ${o.out}`);
    }
    const given = x.settingFlags.filter(([k]) => options[k] !== undefined).map(([, flag]) => flag);
    if (given.length) throw new Error(`--resume continues ${o.out} with the settings it recorded: ${given.join(', ')} cannot change them (start a new run with another --out)`);
    const record = readRunRecord<R>(runFile, x.settingsSchema);
    const r = record.split;
    const { data, split } = await loadSplit({ data: o.data ?? record.data, split: r.name, splitSeed: r.seed, validationList: r.validationList,
      validationFraction: r.fraction, validationData: r.validationData, ...record.fields });
    const config: ModelConfig = { ...parseConfig(record.config, runFile), head: x.head };
    const tokenizer = BertTokenizer.load(tokDir);
    let params: ParamStore, resume: Checkpoint<never> | undefined;
    if (existsSync(ckptFile)) {
      resume = loadCheckpoint<never>(ckptFile);
      params = new ParamStore(config);
      process.stderr.write(`resuming ${o.out} at epoch ${resume.state.epoch}, step ${resume.state.stepInEpoch}\n`);
    } else {
      // Stopped before its first checkpoint: the recorded run from step 0 (same seeds, same start).
      process.stderr.write(`${o.out} has no checkpoint yet: starting its recorded run from step 0\n`);
      ({ params } = await initialModel({ init: record.init, vocab: join(tokDir, 'vocab.txt'), revision: o.revision }, x.modelSettings(record.settings), { labels: x.labels(data), problemType: data.problemType }, x.head));
    }
    out = { record, data, split, config, params, tokenizer, resume, ckptFile, modelDir };
  } else {
    if (!o.init) throw new Error('--init is required: a model folder, a Hugging Face model id, or scratch');
    x.checkFlags?.();
    if (started && (existsSync(ckptFile) || existsSync(join(modelDir, 'model.safetensors')))) {
      throw new Error(`${o.out} already holds a run: add --resume to continue it, or choose another --out`);
    }
    const st = x.settings();
    const { data, split, source } = await loadSplit(o);
    x.checkData?.(data);
    const { config, params, tokenizer } = await initialModel({ init: o.init, vocab: o.vocab, revision: o.revision }, x.modelSettings(st), { labels: x.labels(data), problemType: data.problemType }, x.head);
    x.checkTokenizer?.(tokenizer);
    if (st.maxLength > config.maxPositionEmbeddings) throw new Error(`--max-length ${st.maxLength} exceeds the model's ${config.maxPositionEmbeddings} positions`);
    if (st.batchSize > split.train.length) throw new Error(`--batch-size ${st.batchSize} is larger than the ${split.train.length} ${x.noun}`);
    const record = {
      settings: st, init: o.init, data: source,
      split: { name: o.split, seed: o.splitSeed, validationList: o.validationList, fraction: o.validationFraction, validationData: o.validationData },
      ...(data.kind === 'files' ? { fields: { textField: o.textField, textPairField: o.textPairField, labelField: o.labelField, encoding: o.encoding, problemType: o.problemType, labelSeparator: o.labelSeparator } } : {}),
      strip: o.strip ?? [], config: configToJson(config), command: commandLine(),
      ...x.extraRecord?.(st),
    } as R;
    if (started) process.stderr.write(`${o.out} holds a run that stopped before its first checkpoint: starting it afresh\n`);
    writeRunStart(o.out, tokenizer, record);
    out = { record, data, split, config, params, tokenizer, ckptFile, modelDir };
  }
  faultPoint('data-loaded');
  return out;
}

/** A fresh run's files before its first step: its tokenizer (vocab.txt, tokenizer_config.json) and its record (run.json). */
function writeRunStart(out: string, tokenizer: BertTokenizer, record: RunRecord<unknown>): void {
  saveTokenizer(join(out, 'tokenizer'), tokenizer);
  writeFileAtomic(join(out, 'run.json'), [Buffer.from(JSON.stringify({ format: FORMATS.run, ...record }, null, 2) + '\n')]);
}
