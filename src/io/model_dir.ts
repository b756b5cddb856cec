import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ParamStore } from './params';
import { BertTokenizer } from '../tokenizer';
import { DistilBertConfig, readConfig, writeConfig } from './config';
import { ensureWritableDir, writeFileAtomic } from './atomic';
import { readSafetensors, Tensor, writeSafetensors } from './safetensors';
import { readTfH5, tfVariableFor } from './tf_h5';

export interface LoadedModel {
  dir: string;
  config: DistilBertConfig;
  params: ParamStore;
  tokenizer: BertTokenizer;
}

/** The weights file of a model folder: model.safetensors, else tf_model.h5 (transformers' order). */
export function weightsFile(dir: string): string {
  for (const f of ['model.safetensors', 'tf_model.h5']) if (existsSync(join(dir, f))) return join(dir, f);
  throw new Error(`${dir} has no weights: a model folder needs model.safetensors or tf_model.h5, with config.json and vocab.txt`);
}

/** Every tensor of a weights file by PyTorch name (TF weights renamed and transposed as transformers does). */
export function readWeights(path: string): Map<string, Tensor> {
  return path.endsWith('.h5') ? readTfH5(path) : readSafetensors(path);
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
  const missing = weightsPath.endsWith('.h5') ? params.load(readTfH5(weightsPath), weightsPath) : params.loadFile(weightsPath);
  if (missing.length) throw new Error(missingMessage(weightsPath, missing));
  const tokenizer = BertTokenizer.load(dir);
  if (tokenizer.vocab.size > config.vocabSize) {
    throw new Error(`${dir}: the vocabulary has ${tokenizer.vocab.size} tokens but config.json's vocab_size is ${config.vocabSize}`);
  }
  return { dir, config, params, tokenizer };
}

/**
 * Writes a model folder that our loader and HF transformers both read: config.json,
 * model.safetensors (HF names, F32), vocab.txt and tokenizer_config.json. Each file is atomic.
 */
export function saveModelDir(dir: string, config: DistilBertConfig, params: ParamStore, tokenizer: BertTokenizer): void {
  ensureWritableDir(dir);
  writeSafetensors(join(dir, 'model.safetensors'), params.tensors(), { format: 'pt' });
  writeConfig(join(dir, 'config.json'), config);
  writeFileAtomic(join(dir, 'vocab.txt'), [Buffer.from(tokenizer.vocab.idToToken.join('\n') + '\n')]);
  const tokCfg = { do_lower_case: tokenizer.lowercase, model_max_length: tokenizer.modelMaxLength, tokenizer_class: 'DistilBertTokenizer' };
  writeFileAtomic(join(dir, 'tokenizer_config.json'), [Buffer.from(JSON.stringify(tokCfg, null, 2) + '\n')]);
}
