import { existsSync, statSync } from 'node:fs';
import { readJsonIfExists } from '../io/json_file';
import { dirname, join } from 'node:path';
import { ParamStore } from '../io/params';
import { BertTokenizer } from '../tokenizer';
import { ModelConfig, readConfig, tokenizerClass, writeConfig } from './config';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { saveTokenizer } from '../io/save_tokenizer';
import { checkStripParts, StripPart } from '../data/strip';
import { readSafetensors, Tensor, writeSafetensors } from '../io/safetensors';
import { readTfH5, tfVariableFor } from '../io/tf_h5';
import { readPytorchWeights } from '../io/pytorch_bin';
import { shardFiles, WEIGHTS_FILES } from '../io/weights_files';

export interface LoadedModel {
  dir: string;
  config: ModelConfig;
  params: ParamStore;
  tokenizer: BertTokenizer;
  /** What the model was trained to read (preprocessing.json); absent in folders that do not record it. */
  preprocessing?: Preprocessing;
  /** Temperatures fitted on held-out texts (calibration.json); absent: probabilities as the model gives them. */
  calibration?: Calibration;
}

/** Temperature scaling of a model folder's probabilities (eval/calibration.ts): softmax(z / T). */
export interface Calibration {
  /** The transformer's own probabilities. */
  transformer: number;
  /** A hybrid's fused scores (log p of the uncalibrated transformer + its parts' weighted decisions). */
  hybrid?: number;
  /** The texts the temperatures were fitted on, in words ("412 training texts held out from every part"). */
  fittedOn: string;
}

export const CALIBRATION_FILE = 'calibration.json';

function readCalibration(dir: string): Calibration | undefined {
  const path = join(dir, CALIBRATION_FILE);
  const raw = readJsonIfExists(path);
  if (raw === undefined) return undefined;
  const o = (raw ?? {}) as { temperature?: { transformer?: unknown; hybrid?: unknown }; fitted_on?: unknown };
  const t = o.temperature ?? {};
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (!positive(t.transformer)) throw new Error(`${path}: temperature.transformer must be a positive number`);
  if (t.hybrid !== undefined && !positive(t.hybrid)) throw new Error(`${path}: temperature.hybrid must be a positive number`);
  if (typeof o.fitted_on !== 'string') throw new Error(`${path}: fitted_on must say which texts the temperatures were fitted on`);
  return { transformer: t.transformer as number, hybrid: t.hybrid as number | undefined, fittedOn: o.fitted_on };
}

/** Writes calibration.json into a model folder (atomically). */
export function saveCalibration(dir: string, c: Calibration): void {
  const json = { format: 1, temperature: { transformer: c.transformer, ...(c.hybrid !== undefined ? { hybrid: c.hybrid } : {}) }, fitted_on: c.fittedOn };
  writeFileAtomic(join(dir, CALIBRATION_FILE), [Buffer.from(JSON.stringify(json, null, 2) + '\n')]);
}

/** The preprocessing a model was trained with, applied by the pipeline before its tokenizer. */
export interface Preprocessing {
  /** scikit-learn's strip rules, in the order given at training. */
  strip: StripPart[];
  /** Tokens per text at training, [CLS] and [SEP] included. */
  maxLength: number;
  /** Trained on text pairs ([CLS] text [SEP] pair [SEP]). */
  pairs?: boolean;
}

export const PREPROCESSING_FILE = 'preprocessing.json';

function readPreprocessing(dir: string): Preprocessing | undefined {
  const path = join(dir, PREPROCESSING_FILE);
  const raw = readJsonIfExists(path);
  if (raw === undefined) return undefined;
  const o = (raw ?? {}) as { strip?: unknown; max_length?: unknown; text_pairs?: unknown };
  const maxLength = o.max_length;
  if (!Number.isInteger(maxLength) || (maxLength as number) < 2) throw new Error(`${path}: max_length must be an integer >= 2`);
  if (o.text_pairs !== undefined && typeof o.text_pairs !== 'boolean') throw new Error(`${path}: text_pairs must be true or false`);
  return { strip: checkStripParts(o.strip, `${path}: strip`), maxLength: maxLength as number, pairs: o.text_pairs === true };
}

/** The weights file of a model folder (for sharded weights, the index). */
export function weightsFile(dir: string): string {
  for (const f of WEIGHTS_FILES) if (existsSync(join(dir, f))) return join(dir, f);
  throw new Error(`${dir} has no weights: a model folder needs one of ${WEIGHTS_FILES.join(', ')}, with config.json and vocab.txt`);
}

/** Every tensor of a weights file (or a sharded index's shards) by PyTorch name (TF weights renamed and transposed as transformers does). */
export function readWeights(path: string): Map<string, Tensor> {
  if (path.endsWith('.index.json')) {
    const out = new Map<string, Tensor>();
    for (const shard of shardFiles(path)) for (const [k, v] of readWeights(join(dirname(path), shard))) out.set(k, v);
    return out;
  }
  if (path.endsWith('.h5')) return readTfH5(path);
  if (path.endsWith('.bin')) return readPytorchWeights(path);
  return readSafetensors(path);
}

/** "missing tensor X (and n more)", with the TF variable it would come from for TF weights. */
export function missingMessage(path: string, missing: string[]): string {
  const tf = path.endsWith('.h5') ? ` (TF variable ${tfVariableFor(missing[0])})` : '';
  return `${path}: missing tensor ${missing[0]}${tf}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`;
}

/** Reads a model folder in Hugging Face layout: config.json, model.safetensors or tf_model.h5, vocab.txt or tokenizer.json. */
export function loadModelDir(dir: string): LoadedModel {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`model folder ${dir} does not exist`);
  const need = (file: string): string => {
    const p = join(dir, file);
    if (!existsSync(p)) throw new Error(`${p} is missing: a model folder needs config.json, model.safetensors (or tf_model.h5) and vocab.txt`);
    return p;
  };
  const config = readConfig(need('config.json'));
  const weightsPath = weightsFile(dir);
  const params = new ParamStore(config);
  const missing = weightsPath.endsWith('.safetensors') ? params.loadFile(weightsPath) : params.load(readWeights(weightsPath), weightsPath);
  if (missing.length) throw new Error(missingMessage(weightsPath, missing));
  const tokenizer = BertTokenizer.load(dir);
  if (tokenizer.vocab.size > config.vocabSize) {
    throw new Error(`${dir}: the vocabulary has ${tokenizer.vocab.size} tokens but config.json's vocab_size is ${config.vocabSize}`);
  }
  return { dir, config, params, tokenizer, preprocessing: readPreprocessing(dir), calibration: readCalibration(dir) };
}

/**
 * Writes a model folder that our loader and HF transformers both read: config.json,
 * model.safetensors (HF names, F32), vocab.txt and tokenizer_config.json, and with `preprocessing`
 * preprocessing.json (what the pipeline applies before the tokenizer). Each file is atomic.
 */
export function saveModelDir(dir: string, config: ModelConfig, params: ParamStore, tokenizer: BertTokenizer, preprocessing?: Preprocessing): void {
  ensureWritableDir(dir);
  writeSafetensors(join(dir, 'model.safetensors'), params.tensors(), { format: 'pt' });
  writeConfig(join(dir, 'config.json'), config);
  saveTokenizer(dir, tokenizer, { tokenizerClass: tokenizerClass(config) });
  if (preprocessing) {
    const json = { strip: preprocessing.strip, max_length: preprocessing.maxLength, ...(preprocessing.pairs ? { text_pairs: true } : {}) };
    writeFileAtomic(join(dir, PREPROCESSING_FILE), [Buffer.from(JSON.stringify(json, null, 2) + '\n')]);
  }
}
