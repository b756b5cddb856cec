import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ParamStore } from './params';
import { BertTokenizer } from '../tokenizer';
import { DistilBertConfig, readConfig, writeConfig } from './config';
import { ensureWritableDir, writeFileAtomic } from './atomic';
import { writeSafetensors } from './safetensors';

export interface LoadedModel {
  dir: string;
  config: DistilBertConfig;
  params: ParamStore;
  tokenizer: BertTokenizer;
}

/** Reads a model folder in Hugging Face layout: config.json, model.safetensors, vocab.txt or tokenizer.json. */
export function loadModelDir(dir: string): LoadedModel {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`model folder ${dir} does not exist`);
  const need = (file: string): string => {
    const p = join(dir, file);
    if (!existsSync(p)) throw new Error(`${p} is missing: a model folder needs config.json, model.safetensors and vocab.txt`);
    return p;
  };
  const config = readConfig(need('config.json'));
  const weightsPath = need('model.safetensors');
  const params = new ParamStore(config);
  const missing = params.loadFile(weightsPath);
  if (missing.length) {
    throw new Error(`${weightsPath}: missing tensor ${missing[0]}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`);
  }
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
