import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { parseStrip, strip } from '../data/strip';
import { configToJson, DistilBertConfig, parseConfig } from '../io/config';
import { faultPoint } from '../io/fault';
import { saveModelDir } from '../io/model_dir';
import { ParamStore } from '../io/params';
import { DistilBertMaskedLM } from '../model/masked_lm';
import { MaskingVocab } from '../pretrain/masking';
import { pretrain, PretrainEpochRow, PretrainSettings } from '../pretrain/pretrainer';
import { textWindows } from '../pretrain/windows';
import { BertTokenizer } from '../tokenizer';
import { Checkpoint, loadCheckpoint } from '../train/checkpoint';
import { initialModel } from '../train/initial_model';
import { PRESETS } from '../train/presets';
import { addDeviceOptions, applyThreads, DeviceOptions, floatOption, intOption } from './common';
import { addDataOptions, DataOptions, loadSplit } from './data_options';
import { addRunOptions, commandLine, exitIfInterrupted, RunOptions, writeRunStart, progressBar, removeInterruptedWrites, stopOnSignal } from './run_folder';

interface PretrainOptions extends DeviceOptions, DataOptions, RunOptions {
  warmupSteps?: number;
  weightDecay?: number;
  clipNorm?: number;
  mlmProbability?: number;
  wholeWordMask?: boolean;
  windows?: number;
}

type Settings = PretrainSettings & { arch: (typeof PRESETS)['small']['arch']; dropout: number; attentionDropout: number };

/** What a run records at its start, so that --resume needs no other flag. */
interface PretrainRecord {
  settings: Settings;
  init: string;
  data: string;
  split: { name: DataOptions['split']; seed: number; validationList?: string; fraction?: number; validationData?: string };
  fields?: { textField?: string; labelField?: string; encoding?: 'utf-8' | 'latin1' };
  strip: string[];
  config: Record<string, unknown>;
  command: string;
}

/** Flags that set a run's hyperparameters or start: a resumed run keeps the ones it recorded. */
const SETTING_FLAGS: [keyof PretrainOptions, string][] = [
  ['init', '--init'], ['epochs', '--epochs'], ['batchSize', '--batch-size'], ['microBatch', '--micro-batch'], ['lr', '--lr'],
  ['warmupSteps', '--warmup-steps'], ['weightDecay', '--weight-decay'], ['clipNorm', '--clip-norm'], ['maxLength', '--max-length'], ['windows', '--windows'],
  ['seed', '--seed'], ['mlmProbability', '--mlm-probability'], ['wholeWordMask', '--whole-word-mask'], ['dropout', '--dropout'],
  ['attentionDropout', '--attention-dropout'], ['layers', '--layers'], ['dim', '--dim'], ['heads', '--heads'], ['ffn', '--ffn'],
];

function settingsFrom(o: PretrainOptions): Settings {
  const p = PRESETS[o.preset];
  const batchSize = o.batchSize ?? p.batchSize, epochs = o.epochs ?? p.epochs;
  return {
    epochs, batchSize, microBatch: Math.min(o.microBatch ?? batchSize, batchSize),
    lr: o.lr ?? 5e-4,
    warmupSteps: o.warmupSteps,
    weightDecay: o.weightDecay ?? 0.01, clipNorm: o.clipNorm ?? 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
    maxLength: o.maxLength ?? p.maxLength, windows: o.windows ?? 1, seed: o.seed ?? p.seed,
    masking: { probability: o.mlmProbability ?? 0.15, wholeWord: o.wholeWordMask ?? false },
    arch: { nLayers: o.layers ?? p.arch.nLayers, dim: o.dim ?? p.arch.dim, nHeads: o.heads ?? p.arch.nHeads, hiddenDim: o.ffn ?? p.arch.hiddenDim },
    dropout: o.dropout ?? p.dropout, attentionDropout: o.attentionDropout ?? p.attentionDropout,
  };
}

function maskingVocab(t: BertTokenizer): MaskingVocab {
  const tokens = t.vocab.idToToken;
  const maskId = tokens.indexOf('[MASK]');
  if (maskId < 0) throw new Error('the vocabulary has no [MASK] token: it cannot be used for masked-LM pretraining');
  return {
    size: tokens.length, maskId, special: new Set([t.padId, t.clsId, t.sepId]),
    continuation: Uint8Array.from(tokens, (tok) => (tok.startsWith('##') ? 1 : 0)),
  };
}

function readRecord(path: string): PretrainRecord {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as PretrainRecord;
    if (typeof r !== 'object' || r === null || !r.settings?.masking || !r.config || !r.split) throw new Error('fields are missing');
    return r;
  } catch (e) {
    throw new Error(`${path}: not a readable pretraining record (${(e as Error).message}); start the run again with another --out`);
  }
}

async function run(o: PretrainOptions): Promise<void> {
  applyThreads(o.threads);
  const runFile = join(o.out, 'run.json'), ckptFile = join(o.out, 'checkpoint.safetensors');
  const tokDir = join(o.out, 'tokenizer'), modelDir = join(o.out, 'model');
  removeInterruptedWrites([o.out, tokDir, modelDir]);
  const started = existsSync(runFile);
  let record: PretrainRecord, config: DistilBertConfig, params: ParamStore, tokenizer: BertTokenizer;
  let resume: Checkpoint<PretrainEpochRow> | undefined;
  let loaded;
  if (o.resume) {
    if (!started) throw new Error(`${runFile} not found: nothing to resume in ${o.out}`);
    const given = SETTING_FLAGS.filter(([k]) => o[k] !== undefined).map(([, flag]) => flag);
    if (given.length) throw new Error(`--resume continues ${o.out} with the settings it recorded: ${given.join(', ')} cannot change them (start a new run with another --out)`);
    record = readRecord(runFile);
    const r = record.split;
    loaded = await loadSplit({ data: o.data ?? record.data, split: r.name, splitSeed: r.seed, validationList: r.validationList,
      validationFraction: r.fraction, validationData: r.validationData, ...record.fields });
    config = { ...parseConfig(record.config, runFile), head: 'masked-lm' };
    tokenizer = BertTokenizer.load(tokDir);
    if (existsSync(ckptFile)) {
      resume = loadCheckpoint<PretrainEpochRow>(ckptFile);
      params = new ParamStore(config);
      process.stderr.write(`resuming ${o.out} at epoch ${resume.state.epoch}, step ${resume.state.stepInEpoch}\n`);
    } else {
      process.stderr.write(`${o.out} has no checkpoint yet: starting its recorded run from step 0\n`);
      ({ params } = await initialModel({ ...o, init: record.init, vocab: join(tokDir, 'vocab.txt') }, { ...record.settings, seqClassifDropout: 0 }, [], 'masked-lm'));
    }
  } else {
    if (!o.init) throw new Error('--init is required: a model folder, a Hugging Face model id, or scratch');
    if (started && (existsSync(ckptFile) || existsSync(join(modelDir, 'model.safetensors')))) {
      throw new Error(`${o.out} already holds a run: add --resume to continue it, or choose another --out`);
    }
    loaded = await loadSplit(o);
    const st = settingsFrom(o);
    ({ config, params, tokenizer } = await initialModel({ ...o, init: o.init }, { ...st, seqClassifDropout: 0 }, [], 'masked-lm'));
    maskingVocab(tokenizer);
    if (st.maxLength > config.maxPositionEmbeddings) throw new Error(`--max-length ${st.maxLength} exceeds the model's ${config.maxPositionEmbeddings} positions`);
    if (st.batchSize > loaded.split.train.length) throw new Error(`--batch-size ${st.batchSize} is larger than the ${loaded.split.train.length} training texts`);
    record = {
      settings: st, init: o.init, data: loaded.source,
      split: { name: o.split, seed: o.splitSeed, validationList: o.validationList, fraction: o.validationFraction, validationData: o.validationData },
      ...(loaded.data.kind === 'files' ? { fields: { textField: o.textField, labelField: o.labelField, encoding: o.encoding } } : {}),
      strip: parseStrip(o.strip), config: configToJson(config), command: commandLine(),
    };
    writeRunStart(o.out, tokenizer, record);
  }
  faultPoint('data-loaded');
  const st = record.settings;
  // Only the training part's texts: validation and test texts are never seen, not even unlabelled.
  const stripParts = parseStrip(record.strip.join(',')), windows = st.windows ?? 1;
  const sequences = loaded.split.train.flatMap((p) =>
    textWindows(tokenizer.tokenize(strip(p.text, stripParts)), st.maxLength, windows, tokenizer.clsId, tokenizer.sepId));
  process.stderr.write(`pretraining on the ${loaded.split.train.length} texts of the training part (${loaded.split.description}): ` +
    `${sequences.length} sequences of up to ${st.maxLength} tokens, at most ${windows} from each text\n`);

  const model = new DistilBertMaskedLM(config, params, o);
  const stop = stopOnSignal();
  const bar = progressBar('epoch {epoch} |{bar}| {value}/{total} | mlm loss {loss} | {tps} tok/s | ETA {eta_formatted}', o.progress);
  let printedHeader = false;
  const result = await pretrain({
    model, sequences, vocab: maskingVocab(tokenizer), padId: tokenizer.padId, settings: st, checkpointPath: ckptFile, resume,
    hooks: {
      onEpochStart: (epoch, start, total) => {
        if (o.progress) bar.start(total, start, { epoch: `${epoch + 1}/${st.epochs}`, loss: '-', tps: '-' });
      },
      onStep: (i) => {
        if (o.progress) bar.update(i.step, { loss: i.loss.toFixed(4), tps: i.tokensPerSecond.toFixed(0) });
      },
      onEpochEnd: (row) => {
        if (o.progress) bar.stop();
        if (!printedHeader) process.stdout.write('| epoch | mlm loss | perplexity | predicted tokens | seconds |\n|---|---|---|---|---|\n');
        printedHeader = true;
        process.stdout.write(`| ${row.epoch + 1} | ${row.loss.toFixed(4)} | ${row.perplexity.toFixed(1)} | ${row.predicted} | ${row.seconds.toFixed(0)} |\n`);
      },
      shouldStop: () => stop.requested,
    },
  });
  if (o.progress) bar.stop();
  exitIfInterrupted(result, 'pretrain', o.out, ckptFile);
  saveModelDir(modelDir, config, model.readParams(), tokenizer.withMaxLength(st.maxLength));
  process.stderr.write(`masked-LM model saved to ${modelDir}: fine-tune it with train --init ${modelDir}\n`);
}

export function pretrainCommand(): Command {
  return addRunOptions(addDataOptions(addDeviceOptions(new Command('pretrain'))))
    .description('masked-LM pretraining (DistilBertForMaskedLM, AdamW) on the training part of the data: from scratch, or continued from a model')
    .addOption(new Option('--preset <name>', 'model shape, sequence length, batch and epochs for --init scratch').choices(['card', 'small']).default('small'))
    .option('--epochs <n>', 'epochs (default 10)', intOption(1))
    .option('--lr <x>', 'peak learning rate (default 5e-4), reached after the warmup, then linear decay to 0', floatOption(0))
    .option('--warmup-steps <n>', 'linear warmup steps (default 6% of all steps)', intOption(0))
    .option('--weight-decay <x>', 'AdamW weight decay, not on biases and LayerNorm weights (default 0.01)', floatOption(0))
    .option('--clip-norm <x>', 'clip gradients to this global norm; 0 = off (default 1, as HF Trainer)', floatOption(0))
    .option('--seed <n>', 'seed of initialization, data order, masks and dropout', intOption(0))
    .option('--mlm-probability <p>', 'share of tokens predicted (default 0.15)', floatOption(0.001, 1))
    .option('--whole-word-mask', 'mask whole words (a token and its ## pieces) together')
    .option('--windows <n>', 'read up to N consecutive windows of --max-length tokens from each text, not only its start (default 1); an epoch reads them all', intOption(1))
    .action(run);
}
