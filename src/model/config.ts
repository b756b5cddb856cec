import { readFileSync } from 'node:fs';
import type { EngineConfig } from '../engine/native';
import { writeFileAtomic } from '../io/atomic';

/** The sequence classifier's head, or DistilBertForMaskedLM's (pretraining). */
export type ModelHead = EngineConfig['head'];
export type ModelType = EngineConfig['modelType'];
export type ProblemType = EngineConfig['problemType'];
export const PROBLEM_TYPES: readonly ProblemType[] = ['single_label_classification', 'multi_label_classification', 'regression'];

/**
 * A Hugging Face DistilBertConfig or BertConfig, HF defaults filled in: the shape the engine builds
 * (EngineConfig, whose `head` is always 'classifier' from parseConfig, a masked-LM checkpoint loading
 * as a classifier's body; pretraining sets 'masked-lm'), and the fields initialization reads.
 */
export interface ModelConfig extends EngineConfig {
  initializerRange: number;
  padTokenId: number;
  /** Every field of the file as read, so that writing it back keeps what we do not use. */
  raw: Record<string, unknown>;
}

/** HF DistilBertConfig's defaults (transformers' configuration_distilbert.py). */
const DEFAULTS = {
  vocab_size: 30522,
  max_position_embeddings: 512,
  sinusoidal_pos_embds: false,
  n_layers: 6,
  n_heads: 12,
  dim: 768,
  hidden_dim: 3072,
  dropout: 0.1,
  attention_dropout: 0.1,
  activation: 'gelu',
  initializer_range: 0.02,
  qa_dropout: 0.1,
  seq_classif_dropout: 0.2,
  pad_token_id: 0,
};

/** HF BertConfig's defaults (transformers' configuration_bert.py). */
const BERT_DEFAULTS = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
  classifier_dropout: null,
};

/**
 * Sanity limits, far above any published BERT or DistilBERT (vocab 119,547 for the multilingual
 * ones), so that a corrupt or hostile config.json is one clear error instead of an allocation that
 * aborts the process. Layers: a pass numbers its dropout streams in 64 (DistilBERT two a layer,
 * BERT three).
 */
const LIMITS: Record<string, number> = {
  vocab_size: 1_000_000, max_position_embeddings: 65_536, n_layers: 31, n_heads: 1024, dim: 16_384, hidden_dim: 65_536,
  num_hidden_layers: 20, num_attention_heads: 1024, hidden_size: 16_384, intermediate_size: 65_536, type_vocab_size: 1024,
};

/** LayerNorm epsilon is fixed in HF's DistilBERT code, not a config field (BERT's is layer_norm_eps). */
const DISTILBERT_LAYER_NORM_EPS = 1e-12;

/** The architectures' names in config.json's `architectures`, by model type and head. */
const ARCHITECTURES: Record<ModelType, Record<ModelHead, string>> = {
  distilbert: { classifier: 'DistilBertForSequenceClassification', 'masked-lm': 'DistilBertForMaskedLM' },
  bert: { classifier: 'BertForSequenceClassification', 'masked-lm': 'BertForMaskedLM' },
};

/** Reads config.json's fields with one clear line for each bad one. */
function fieldReader(merged: Record<string, unknown>, source: string) {
  return {
    int(k: string, min = 1): number {
      const v = merged[k];
      const max = LIMITS[k] ?? Number.MAX_SAFE_INTEGER;
      if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
        throw new Error(`${source}: ${k} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
      }
      return v as number;
    },
    prob(k: string): number {
      const v = merged[k];
      if (typeof v !== 'number' || v < 0 || v >= 1) throw new Error(`${source}: ${k} must be a probability in [0, 1), got ${JSON.stringify(v)}`);
      return v;
    },
    activation(k: string): EngineConfig['activation'] {
      const v = merged[k];
      if (v !== 'gelu' && v !== 'gelu_new' && v !== 'relu') throw new Error(`${source}: ${k} ${JSON.stringify(v)} is not supported (gelu, gelu_new, relu)`);
      return v;
    },
  };
}

/**
 * problem_type as transformers reads it: the field when set, else regression for one output and
 * single-label classification otherwise. Regression has exactly one output.
 */
function parseProblemType(raw: Record<string, unknown>, labels: number, source: string): ProblemType {
  const v = raw.problem_type;
  const problem = v === undefined || v === null ? (labels === 1 ? 'regression' : 'single_label_classification') : v;
  if (!PROBLEM_TYPES.includes(problem as ProblemType)) {
    throw new Error(`${source}: problem_type ${JSON.stringify(v)} is not one of ${PROBLEM_TYPES.join(', ')}`);
  }
  if (problem === 'regression' && labels !== 1) throw new Error(`${source}: regression has one output; this config has ${labels} labels (several regression outputs are not supported)`);
  return problem as ProblemType;
}

export function parseConfig(raw: Record<string, unknown>, source = 'config.json'): ModelConfig {
  if (raw.model_type === 'bert') return parseBertConfig(raw, source);
  if (raw.model_type !== undefined && raw.model_type !== 'distilbert') {
    throw new Error(`${source}: model_type is ${JSON.stringify(raw.model_type)}; supported: "distilbert", "bert"`);
  }
  const merged = { ...DEFAULTS, ...raw } as Record<string, unknown>;
  const { int, prob, activation } = fieldReader(merged, source);
  const dim = int('dim');
  const nHeads = int('n_heads');
  if (dim % nHeads !== 0) throw new Error(`${source}: dim ${dim} is not a multiple of n_heads ${nHeads}`);
  const id2label = parseLabels(raw, source);
  return {
    head: 'classifier',
    modelType: 'distilbert',
    problemType: parseProblemType(raw, id2label.length, source),
    typeVocabSize: 0,
    layerNormEps: DISTILBERT_LAYER_NORM_EPS,
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings'),
    sinusoidalPosEmbds: merged.sinusoidal_pos_embds === true,
    nLayers: int('n_layers', 0),
    nHeads,
    dim,
    hiddenDim: int('hidden_dim'),
    dropout: prob('dropout'),
    attentionDropout: prob('attention_dropout'),
    activation: activation('activation'),
    initializerRange: typeof merged.initializer_range === 'number' ? merged.initializer_range : 0.02,
    seqClassifDropout: prob('seq_classif_dropout'),
    padTokenId: int('pad_token_id', 0),
    id2label,
    raw,
  };
}

/** A BertConfig: what the engine runs of it, and one line for what it cannot run. */
function parseBertConfig(raw: Record<string, unknown>, source: string): ModelConfig {
  const merged = { ...BERT_DEFAULTS, ...raw } as Record<string, unknown>;
  if (merged.position_embedding_type !== 'absolute') {
    throw new Error(`${source}: position_embedding_type ${JSON.stringify(merged.position_embedding_type)} is not supported (absolute only)`);
  }
  if (merged.is_decoder === true) throw new Error(`${source}: is_decoder is true: decoder BERTs are not supported (encoders only)`);
  if (merged.add_cross_attention === true) throw new Error(`${source}: add_cross_attention is true: cross-attention is not supported`);
  const { int, prob, activation } = fieldReader(merged, source);
  const dim = int('hidden_size');
  const nHeads = int('num_attention_heads');
  if (dim % nHeads !== 0) throw new Error(`${source}: hidden_size ${dim} is not a multiple of num_attention_heads ${nHeads}`);
  const eps = merged.layer_norm_eps;
  if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) throw new Error(`${source}: layer_norm_eps must be a number in (0, 1), got ${JSON.stringify(eps)}`);
  const dropout = prob('hidden_dropout_prob');
  const id2label = parseLabels(raw, source);
  return {
    head: 'classifier',
    modelType: 'bert',
    problemType: parseProblemType(raw, id2label.length, source),
    typeVocabSize: int('type_vocab_size'),
    layerNormEps: eps,
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings'),
    sinusoidalPosEmbds: false,
    nLayers: int('num_hidden_layers', 0),
    nHeads,
    dim,
    hiddenDim: int('intermediate_size'),
    dropout,
    attentionDropout: prob('attention_probs_dropout_prob'),
    activation: activation('hidden_act'),
    initializerRange: typeof merged.initializer_range === 'number' ? merged.initializer_range : 0.02,
    // BertForSequenceClassification: classifier_dropout, else hidden_dropout_prob.
    seqClassifDropout: merged.classifier_dropout === null ? dropout : prob('classifier_dropout'),
    padTokenId: int('pad_token_id', 0),
    id2label,
    raw,
  };
}

/** id2label as an array; HF's default when absent is two labels LABEL_0, LABEL_1. */
function parseLabels(raw: Record<string, unknown>, source: string): string[] {
  const map = raw.id2label;
  if (map === undefined) {
    const n = Number.isInteger(raw.num_labels) ? (raw.num_labels as number) : 2;
    return Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  }
  if (typeof map !== 'object' || map === null) throw new Error(`${source}: id2label must be an object`);
  const entries = Object.entries(map as Record<string, unknown>);
  const labels: string[] = new Array(entries.length);
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof v !== 'string') {
      throw new Error(`${source}: id2label must map 0..${entries.length - 1} to names, got key ${JSON.stringify(k)}`);
    }
    labels[i] = v;
  }
  return labels;
}

export function readConfig(path: string): ModelConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path}: not a JSON object`);
  return parseConfig(raw as Record<string, unknown>, path);
}

/** config.json in HF form: the original fields, with the engine's values and labels written over them. */
export function configToJson(c: ModelConfig): Record<string, unknown> {
  const label2id: Record<string, number> = {};
  c.id2label.forEach((l, i) => (label2id[l] = i));
  const labels = c.head === 'masked-lm'
    ? { tie_word_embeddings: true }
    : { id2label: Object.fromEntries(c.id2label.map((l, i) => [String(i), l])), label2id, problem_type: c.problemType };
  const { id2label: _i, label2id: _l, problem_type: _p, ...rest } = c.raw;
  const common = { ...(c.head === 'masked-lm' ? rest : c.raw), architectures: [ARCHITECTURES[c.modelType][c.head]], model_type: c.modelType };
  if (c.modelType === 'bert') {
    return {
      ...common,
      vocab_size: c.vocabSize,
      hidden_size: c.dim,
      num_hidden_layers: c.nLayers,
      num_attention_heads: c.nHeads,
      intermediate_size: c.hiddenDim,
      hidden_act: c.activation,
      hidden_dropout_prob: c.dropout,
      attention_probs_dropout_prob: c.attentionDropout,
      classifier_dropout: c.seqClassifDropout === c.dropout ? null : c.seqClassifDropout,
      max_position_embeddings: c.maxPositionEmbeddings,
      type_vocab_size: c.typeVocabSize,
      initializer_range: c.initializerRange,
      layer_norm_eps: c.layerNormEps,
      pad_token_id: c.padTokenId,
      position_embedding_type: 'absolute',
      ...labels,
    };
  }
  return {
    ...common,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    sinusoidal_pos_embds: c.sinusoidalPosEmbds,
    n_layers: c.nLayers,
    n_heads: c.nHeads,
    dim: c.dim,
    hidden_dim: c.hiddenDim,
    dropout: c.dropout,
    attention_dropout: c.attentionDropout,
    activation: c.activation,
    initializer_range: c.initializerRange,
    qa_dropout: (c.raw.qa_dropout as number | undefined) ?? DEFAULTS.qa_dropout,
    seq_classif_dropout: c.seqClassifDropout,
    pad_token_id: c.padTokenId,
    ...labels,
  };
}

/** The tokenizer class transformers names for the architecture (BertTokenizer also returns token_type_ids). */
export function tokenizerClass(c: ModelConfig): 'BertTokenizer' | 'DistilBertTokenizer' {
  return c.modelType === 'bert' ? 'BertTokenizer' : 'DistilBertTokenizer';
}

export function writeConfig(path: string, c: ModelConfig): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(configToJson(c), null, 2) + '\n')]);
}
