import { Command, Option } from 'commander';
import { strip } from '../data/strip';
import { DistilBertMaskedLM } from '../model/masked_lm';
import { saveModelDir } from '../model/model_dir';
import { MaskingVocab } from '../pretrain/masking';
import { pretrain, PretrainEpochRow, PretrainJob, PretrainSettings } from '../pretrain/pretrainer';
import { textWindows } from '../pretrain/windows';
import { BertTokenizer } from '../tokenizer';
import { PRESETS } from '../train/presets';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, floatOption, intOption } from './common';
import { addDataOptions, DataOptions } from './data_options';
import { bool, int, num, optional, RUN_SCHEMA } from './record_check';
import { addRunOptions, commandHooks, exitIfInterrupted, RunOptions, RunRecord, startRun } from './run_folder';

type PretrainStep = Parameters<NonNullable<NonNullable<PretrainJob['hooks']>['onStep']>>[0];

interface PretrainOptions extends DeviceOptions, DataOptions, RunOptions {
  warmupSteps?: number;
  weightDecay?: number;
  clipNorm?: number;
  mlmProbability?: number;
  wholeWordMask?: boolean;
  windows?: number;
}

type Settings = PretrainSettings & { arch: (typeof PRESETS)['small']['arch']; dropout: number; attentionDropout: number };

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

async function run(o: PretrainOptions): Promise<void> {
  applyThreads(o.threads);
  const { record, split, config, params, tokenizer, resume, ckptFile, modelDir } = await startRun<Settings, RunRecord<Settings>>({
    o, settingFlags: SETTING_FLAGS, head: 'masked-lm', noun: 'training texts',
    settingsSchema: {
      ...RUN_SCHEMA, warmupSteps: optional(int(0)), weightDecay: num(0), clipNorm: num(0), windows: int(1),
      masking: { probability: num(0.001, 1), wholeWord: bool },
    },
    settings: () => settingsFrom(o),
    modelSettings: (st) => ({ ...st, seqClassifDropout: 0 }),
    labels: () => [],
    checkTokenizer: maskingVocab,
  });
  const st = record.settings;
  // Only the training part's texts: validation and test texts are never seen, not even unlabelled.
  const sequences = split.train.flatMap((p) =>
    textWindows(tokenizer.tokenize(strip(p.text, record.strip)), st.maxLength, st.windows, tokenizer.clsId, tokenizer.sepId));
  process.stderr.write(`pretraining on the ${split.train.length} texts of the training part (${split.description}): ` +
    `${sequences.length} sequences of up to ${st.maxLength} tokens, at most ${st.windows} from each text\n`);

  const model = new DistilBertMaskedLM(config, params, deviceChoice(o));
  const hooks = commandHooks({
    progress: o.progress, epochs: st.epochs, format: 'mlm loss {loss} | {tps} tok/s', blank: { loss: '-', tps: '-' },
    fields: (i: PretrainStep) => ({ loss: i.loss.toFixed(4), tps: i.tokensPerSecond.toFixed(0) }),
    header: '| epoch | mlm loss | perplexity | predicted tokens | seconds |\n|---|---|---|---|---|\n',
    row: (row: PretrainEpochRow) => `| ${row.epoch + 1} | ${row.loss.toFixed(4)} | ${row.perplexity.toFixed(1)} | ${row.predicted} | ${row.seconds.toFixed(0)} |\n`,
  });
  const result = await pretrain({ model, sequences, vocab: maskingVocab(tokenizer), padId: tokenizer.padId, settings: st, checkpointPath: ckptFile, resume, hooks });
  hooks.done();
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
