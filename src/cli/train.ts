import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Analyzer, ANALYZERS } from '../baseline/tfidf';
import { encodePosts } from '../data/dataset';
import { partName } from '../hybrid/hybrid';
import { buildHybrid, fusionSlice } from '../hybrid_build/build';
import { writeFileAtomic } from '../io/atomic';
import { EncoderClassifier } from '../model/encoder_classifier';
import { fitTemperature } from '../eval/calibration';
import { saveCalibration, saveModelDir } from '../model/model_dir';
import { Classifier } from '../pipeline/classifier';
import { EpochRow } from '../train/checkpoint';
import { figure, formatTable, modelCard } from '../train/model_card';
import { PRESETS, TrainSettings } from '../train/presets';
import { train, TrainHooks } from '../train/trainer';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, floatOption, intOption } from './common';
import { addDataOptions, DataOptions } from './data_options';
import { num, oneOf, optional, RUN_SCHEMA } from './record_check';
import { addRunOptions, commandHooks, exitIfInterrupted, RunOptions, RunRecord, startRun } from './run_folder';

type TrainStep = Parameters<NonNullable<TrainHooks['onStep']>>[0];

interface TrainOptions extends DeviceOptions, DataOptions, RunOptions {
  classifierDropout?: number;
  clipNorm?: number;
  optimizer?: 'adam' | 'adamw';
  weightDecay?: number;
  warmupSteps?: number;
  warmupRatio?: number;
  maxGradNorm?: number;
  hybrid?: boolean;
  hybridParts?: Analyzer[][];
  fusionFraction?: number;
  calibrationFraction?: number;
  calibrateOnValidation?: boolean;
}

type Settings = TrainSettings & { microBatch: number };

/** What a training run records at its start: with a hybrid, the share of the training part held
 * out to choose the fusion weights, its seed, and the TF-IDF parts (each its analyzers joined by '+'). */
interface TrainRecord extends RunRecord<Settings> {
  hybrid?: { fraction: number; seed: number; parts: string[] };
  /** A plain run's temperature: fitted on a held-out share of the training part, or on the validation part. */
  calibration?: { fraction: number; seed: number } | { on: 'validation' };
}

function settingsFrom(o: TrainOptions): Settings {
  const adamw = o.optimizer === 'adamw';
  for (const [v, flag] of [[o.weightDecay, '--weight-decay'], [o.warmupSteps, '--warmup-steps'], [o.warmupRatio, '--warmup-ratio'], [o.maxGradNorm, '--max-grad-norm']] as const) {
    if (v !== undefined && !adamw) throw new Error(`${flag} is AdamW's: add --optimizer adamw`);
  }
  if (o.clipNorm !== undefined && adamw) throw new Error('--clip-norm is Keras Adam\'s clipnorm: AdamW clips with --max-grad-norm (default 1.0, as HF Trainer)');
  if (o.warmupSteps !== undefined && o.warmupRatio !== undefined) throw new Error('--warmup-steps and --warmup-ratio are two ways to set one warmup: choose one');
  const p = PRESETS[o.preset];
  const s: TrainSettings = {
    ...p,
    epochs: o.epochs ?? p.epochs,
    batchSize: o.batchSize ?? p.batchSize,
    lr: o.lr ?? p.lr,
    maxLength: o.maxLength ?? p.maxLength,
    seed: o.seed ?? p.seed,
    dropout: o.dropout ?? p.dropout,
    attentionDropout: o.attentionDropout ?? p.attentionDropout,
    seqClassifDropout: o.classifierDropout ?? p.seqClassifDropout,
    clipNorm: adamw ? o.maxGradNorm ?? 1.0 : o.clipNorm,
    optimizer: o.optimizer ?? 'adam',
    ...(adamw ? { weightDecay: o.weightDecay ?? 0, warmupSteps: o.warmupSteps, warmupRatio: o.warmupRatio } : {}),
    arch: { nLayers: o.layers ?? p.arch.nLayers, dim: o.dim ?? p.arch.dim, nHeads: o.heads ?? p.arch.nHeads, hiddenDim: o.ffn ?? p.arch.hiddenDim },
  };
  // The card's batch of 80 x 512 tokens on distilbert-base needs ~20 GB of activations:
  // by default it is accumulated over micro-batches of 8 (the same mean gradient).
  const microBatch = Math.min(o.microBatch ?? (o.preset === 'card' ? 8 : s.batchSize), s.batchSize);
  return { ...s, microBatch };
}

/** Flags that set a run's hyperparameters or start: a resumed run keeps the ones it recorded. */
const SETTING_FLAGS: [keyof TrainOptions, string][] = [
  ['init', '--init'], ['epochs', '--epochs'], ['batchSize', '--batch-size'], ['microBatch', '--micro-batch'], ['lr', '--lr'],
  ['maxLength', '--max-length'], ['seed', '--seed'], ['dropout', '--dropout'], ['attentionDropout', '--attention-dropout'],
  ['classifierDropout', '--classifier-dropout'], ['clipNorm', '--clip-norm'], ['optimizer', '--optimizer'], ['weightDecay', '--weight-decay'],
  ['warmupSteps', '--warmup-steps'], ['warmupRatio', '--warmup-ratio'], ['maxGradNorm', '--max-grad-norm'], ['layers', '--layers'], ['dim', '--dim'],
  ['textPairField', '--text-pair-field'], ['problemType', '--problem-type'], ['labelSeparator', '--label-separator'],
  ['heads', '--heads'], ['ffn', '--ffn'], ['hybrid', '--hybrid'], ['fusionFraction', '--fusion-fraction'], ['hybridParts', '--hybrid-parts'],
  ['calibrationFraction', '--calibration-fraction'], ['calibrateOnValidation', '--calibrate-on-validation'],
];

async function run(o: TrainOptions): Promise<void> {
  applyThreads(o.threads);
  const { record, data, split, config, params, tokenizer, resume, ckptFile, modelDir } = await startRun<Settings, TrainRecord>({
    o, settingFlags: SETTING_FLAGS, head: 'classifier', noun: 'training examples',
    settingsSchema: { ...RUN_SCHEMA, seqClassifDropout: num(0, 0.99), clipNorm: optional(num(0)), optimizer: optional(oneOf('adam', 'adamw')), weightDecay: optional(num(0)), warmupSteps: optional(num(0)), warmupRatio: optional(num(0, 1)) },
    checkFlags: () => {
      if (o.fusionFraction !== undefined && !o.hybrid) throw new Error('--fusion-fraction is for --hybrid runs: add --hybrid');
      if (o.hybridParts !== undefined && !o.hybrid) throw new Error('--hybrid-parts is for --hybrid runs: add --hybrid');
      if (o.hybrid && (o.calibrationFraction !== undefined || o.calibrateOnValidation)) throw new Error('a --hybrid run fits its temperatures on the texts it holds out for the fusion weights: drop --calibration-fraction / --calibrate-on-validation');
      if (o.calibrationFraction !== undefined && o.calibrateOnValidation) throw new Error('--calibration-fraction and --calibrate-on-validation are two ways to fit one temperature: choose one');
    },
    settings: () => settingsFrom(o),
    checkData: (data) => {
      const what = data.problemType !== 'single_label_classification' ? `${data.problemType} data` : data.pairs ? 'text pairs' : undefined;
      if (what && o.hybrid) throw new Error(`--hybrid fuses TF-IDF parts with a single-label classifier of single texts: it cannot train on ${what}`);
      if (data.problemType !== 'single_label_classification' && (o.calibrationFraction !== undefined || o.calibrateOnValidation)) throw new Error(`a temperature calibrates softmax probabilities: --calibration-fraction and --calibrate-on-validation are for single-label data, not ${data.problemType}`);
    },
    modelSettings: (st) => st,
    labels: (data) => data.labels,
    extraRecord: (st) => (o.hybrid ? { hybrid: { fraction: o.fusionFraction ?? 0.05, seed: st.seed, parts: (o.hybridParts ?? DEFAULT_HYBRID_PARTS).map(partName) } }
      : o.calibrationFraction !== undefined ? { calibration: { fraction: o.calibrationFraction, seed: st.seed } }
      : o.calibrateOnValidation ? { calibration: { on: 'validation' as const } } : {}),
  });
  const st = record.settings;
  const t0 = Date.now();
  const held = record.hybrid ?? (record.calibration && 'fraction' in record.calibration ? record.calibration : undefined);
  const fusion = held ? fusionSlice(split.train, held.fraction, held.seed) : undefined;
  if (fusion) process.stderr.write(`${record.hybrid ? 'hybrid' : 'calibration'}: ${fusion.slice.length} training texts held out to choose the ${record.hybrid ? 'fusion weights and temperatures' : 'temperature'}\n`);
  const trainSet = encodePosts(fusion?.fit ?? split.train, config.id2label, tokenizer, st.maxLength, record.strip, config.problemType);
  const valSet = encodePosts(split.test, config.id2label, tokenizer, st.maxLength, record.strip, config.problemType);
  process.stderr.write(`${split.description}; tokenized in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

  const model = new EncoderClassifier(config, params, deviceChoice(o));
  const table = formatTable([]) + '\n';
  const hooks = commandHooks({
    progress: o.progress, epochs: st.epochs, format: 'loss {loss} | acc {acc} | {tps} tok/s',
    blank: { loss: '-', acc: '-', tps: '-' },
    fields: (i: TrainStep) => ({ loss: figure(i.loss), acc: figure(i.accuracy), tps: i.tokensPerSecond.toFixed(0) }),
    header: table,
    row: (row: EpochRow) => {
      if (row.tokens) {
        process.stderr.write(`epoch ${row.epoch + 1}: ${row.tokens.toLocaleString('en')} token positions computed, ` +
          `${(row.paddingTokens ?? 0).toLocaleString('en')} of them padding (${((100 * (row.paddingTokens ?? 0)) / row.tokens).toFixed(1)}%)\n`);
      }
      return formatTable([row]).split('\n')[2] + '\n';
    },
  });
  const result = await train({ model, train: trainSet, validation: valSet, settings: st, padId: tokenizer.padId, checkpointPath: ckptFile, resume, hooks });
  hooks.done();
  exitIfInterrupted(result, 'train', o.out, ckptFile);
  // model_max_length = the training length: positions beyond it were never trained (from scratch).
  saveModelDir(modelDir, config, model.readParams(), tokenizer.withMaxLength(st.maxLength), { strip: record.strip, maxLength: st.maxLength, pairs: data.pairs });
  let hybridNote = '';
  if (record.calibration) {
    const transformer = new Classifier({ model, tokenizer, labels: config.id2label, maxLength: st.maxLength, strip: record.strip });
    const posts = fusion?.slice ?? split.test;
    const index = new Map(config.id2label.map((l, i) => [l, i]));
    // Pairs as pairs: the temperature is fitted on what the model reads.
    const logits = transformer.probabilities(posts.map((p) => (p.pair !== undefined ? { text: p.text, textPair: p.pair } : p.text))).raw.transformer;
    const T = fitTemperature(logits, Int32Array.from(posts, (p) => index.get(p.group)!), config.id2label.length);
    const fittedOn = fusion ? `${posts.length} training texts held out from training` : `the ${posts.length} validation texts (evaluate's calibration figures on them are not held out)`;
    saveCalibration(modelDir, { transformer: T, fittedOn });
    process.stderr.write(`calibration: temperature ${T.toFixed(4)} fitted on ${fittedOn}\n`);
  }
  if (record.hybrid && fusion) {
    const t1 = Date.now();
    const transformer = new Classifier({ model, tokenizer, labels: config.id2label, maxLength: st.maxLength, strip: record.strip });
    const { hybrid, calibration } = buildHybrid({ transformer, ...fusion, seed: record.hybrid!.seed, parts: record.hybrid!.parts.map(parsePart) });
    hybrid.save(modelDir);
    saveCalibration(modelDir, calibration);
    const a = hybrid.spec.selection.accuracy;
    const parts = hybrid.spec.parts.map((p, k) => ({ ...p, name: partName(p.analyzers), features: hybrid.models[k].features, accuracy: a.parts[k] }));
    hybridNote = `\n## Hybrid\n\nThis folder also holds TF-IDF + linear SVM parts fused with the transformer as softmax(log p + ` +
      parts.map((p) => `${p.lambda} x ${p.name} SVM decision`).join(' + ') + `) (hybrid.json): ` +
      parts.map((p) => `${p.dir}/ (${p.name}: terms in at least ${p.analyzers.map((a, i) => `${p.minDf[i]} (${a})`).join(', ')} training texts, ${p.features} features, C ${p.C})`).join(', ') +
      `. The weights were chosen on ${fusion.slice.length} training texts held out from every part: accuracy there ` +
      `transformer ${a.transformer.toFixed(4)}, ` + parts.map((p) => `TF-IDF ${p.name} ${p.accuracy.toFixed(4)}`).join(', ') + `, hybrid ${a.hybrid.toFixed(4)}.\n`;
    process.stderr.write(`hybrid: ` + parts.map((p) => `lambda ${p.name} ${p.lambda}`).join(', ') + ` (held-out accuracy: transformer ${a.transformer.toFixed(4)}, ` +
      parts.map((p) => `TF-IDF ${p.name} ${p.accuracy.toFixed(4)}`).join(', ') + `, hybrid ${a.hybrid.toFixed(4)}); ` +
      parts.map((p) => `${p.name} part of ${p.features} features`).join(', ') + ` in ${((Date.now() - t1) / 1000).toFixed(0)} s\n`);
  }
  const stepsPerEpoch = Math.floor(trainSet.encodings.length / st.batchSize);
  writeFileAtomic(join(modelDir, 'README.md'), [Buffer.from(modelCard({
    name: o.out.split('/').filter(Boolean).pop() ?? 'model', init: record.init, config, settings: st, stepsPerEpoch,
    dataSource: record.data, splitDescription: split.description, strip: record.strip, trainCount: trainSet.encodings.length,
    validationCount: valSet.encodings.length, history: result.history, command: record.command,
  }) + hybridNote)]);
  process.stderr.write(`model saved to ${modelDir}\n`);
}

/**
 * Words and character n-grams side by side in one SVM: the two read different things, so their errors
 * differ, and one part leaves one weight to choose on the held-out texts (docs/recipes.md).
 */
const DEFAULT_HYBRID_PARTS: Analyzer[][] = [['word', 'char_wb']];

/** A part as --hybrid-parts names it: analyzers joined by '+'. */
function parsePart(value: string): Analyzer[] {
  const analyzers = value.split('+').map((a) => a.trim());
  for (const a of analyzers) if (!ANALYZERS.includes(a as Analyzer)) throw new InvalidArgumentError(`unknown analyzer ${JSON.stringify(a)}: choose from ${ANALYZERS.join(', ')}`);
  if (new Set(analyzers).size !== analyzers.length) throw new InvalidArgumentError(`an analyzer is named twice in ${JSON.stringify(value)}`);
  return analyzers as Analyzer[];
}

function hybridParts(value: string): Analyzer[][] {
  const parts = value.split(',').map(parsePart);
  if (new Set(parts.map(partName)).size !== parts.length) throw new InvalidArgumentError('a part is named twice');
  return parts;
}

export function trainCommand(): Command {
  return addRunOptions(addDataOptions(addDeviceOptions(new Command('train'))))
    .description('fine-tune a DistilBERT or BERT classifier on 20 Newsgroups or your own data: labels, multi-label, regression, text pairs (checkpoints every epoch; Ctrl-C saves, --resume continues)')
    .addOption(new Option('--preset <name>', 'hyperparameter preset').choices(['card', 'small']).default('card'))
    .option('--epochs <n>', 'epochs', intOption(1))
    .option('--lr <x>', 'initial learning rate (decays linearly to 0)', floatOption(0))
    .option('--seed <n>', 'seed of initialization, data order and dropout', intOption(0))
    .option('--classifier-dropout <p>', 'dropout before the classifier', floatOption(0, 0.99))
    .option('--clip-norm <x>', 'clip gradients to this global norm (default: off, as on the card)', floatOption(0))
    .addOption(new Option('--optimizer <name>', 'adam: Keras Adam as on the card (default); adamw: torch AdamW with weight decay, not on biases and LayerNorm weights').choices(['adam', 'adamw']))
    .option('--weight-decay <x>', 'AdamW weight decay, not on biases and LayerNorm weights (default 0, as HF Trainer)', floatOption(0))
    .option('--warmup-steps <n>', 'AdamW: linear warmup over this many steps, then linear decay (default 0)', intOption(0))
    .option('--warmup-ratio <f>', 'AdamW: linear warmup over this share of all steps', floatOption(0, 1))
    .option('--max-grad-norm <x>', 'AdamW: clip gradients to this global norm before each step, as torch\'s clip_grad_norm_ (default 1.0; 0: off)', floatOption(0))
    .option('--calibration-fraction <f>', 'fit a temperature for calibrated probabilities on this share of the training part, held out from training (a --hybrid run fits its own on its held-out texts)', floatOption(0.001, 0.5))
    .option('--calibrate-on-validation', 'fit the temperature on the validation part instead (its calibration figures in evaluate are then not held out)')
    .option('--hybrid', 'also store TF-IDF + linear SVM parts, fused with the transformer (weights chosen on held-out training texts)')
    .option('--hybrid-parts <list>', `the hybrid's TF-IDF parts, comma-separated, each with its own weight; a part is an analyzer, word (uni+bigrams) or char_wb (character 3-5-grams in words), or several joined by + whose features one SVM reads side by side (default ${DEFAULT_HYBRID_PARTS.map(partName).join(',')})`, hybridParts)
    .option('--fusion-fraction <f>', 'share of the training part held out from every model to choose the fusion weights (default 0.05)', floatOption(0.001, 0.5))
    .action(run);
}
