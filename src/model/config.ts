import { readFileSync } from 'node:fs';
import type { EngineConfig } from '../engine/native';
import { writeFileAtomic } from '../io/atomic';

/** DistilBertForSequenceClassification's head, or DistilBertForMaskedLM's (pretraining). */
export type ModelHead = EngineConfig['head'];

/**
 * A Hugging Face DistilBertConfig, HF defaults filled in: the shape the engine builds (EngineConfig,
 * whose `head` is always 'classifier' from parseConfig, a masked-LM checkpoint loading as a
 * classifier's body; pretraining sets 'masked-lm'), and the fields initialization reads.
 */
export interface DistilBertConfig extends EngineConfig {
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

/**
 * Sanity limits, far above any published DistilBERT (vocab 119,547 for the multilingual one), so
 * that a corrupt or hostile config.json is one clear error instead of an allocation that aborts
 * the process. n_layers: each layer has two dropout streams in a numbering of 64 per pass.
 */
const LIMITS: Record<string, number> = {
  vocab_size: 1_000_000, max_position_embeddings: 65_536, n_layers: 31, n_heads: 1024, dim: 16_384, hidden_dim: 65_536,
};

/** LayerNorm epsilon is fixed in HF's DistilBERT code, not a config field. */
export const LAYER_NORM_EPS = 1e-12;

export function parseConfig(raw: Record<string, unknown>, source = 'config.json'): DistilBertConfig {
  if (raw.model_type !== undefined && raw.model_type !== 'distilbert') {
    throw new Error(`${source}: model_type is ${JSON.stringify(raw.model_type)}, only "distilbert" is supported`);
  }
  const merged = { ...DEFAULTS, ...raw } as Record<string, unknown>;
  const int = (k: string, min = 1): number => {
    const v = merged[k];
    const max = LIMITS[k] ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
      throw new Error(`${source}: ${k} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const prob = (k: string): number => {
    const v = merged[k];
    if (typeof v !== 'number' || v < 0 || v >= 1) throw new Error(`${source}: ${k} must be a probability in [0, 1), got ${JSON.stringify(v)}`);
    return v;
  };
  const activation = merged.activation;
  if (activation !== 'gelu' && activation !== 'gelu_new' && activation !== 'relu') {
    throw new Error(`${source}: activation ${JSON.stringify(activation)} is not supported (gelu, gelu_new, relu)`);
  }
  const dim = int('dim');
  const nHeads = int('n_heads');
  if (dim % nHeads !== 0) throw new Error(`${source}: dim ${dim} is not a multiple of n_heads ${nHeads}`);
  return {
    head: 'classifier',
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings'),
    sinusoidalPosEmbds: merged.sinusoidal_pos_embds === true,
    nLayers: int('n_layers', 0),
    nHeads,
    dim,
    hiddenDim: int('hidden_dim'),
    dropout: prob('dropout'),
    attentionDropout: prob('attention_dropout'),
    activation,
    initializerRange: typeof merged.initializer_range === 'number' ? merged.initializer_range : 0.02,
    seqClassifDropout: prob('seq_classif_dropout'),
    padTokenId: int('pad_token_id', 0),
    id2label: parseLabels(raw, source),
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

export function readConfig(path: string): DistilBertConfig {
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
export function configToJson(c: DistilBertConfig): Record<string, unknown> {
  const label2id: Record<string, number> = {};
  c.id2label.forEach((l, i) => (label2id[l] = i));
  const labels = c.head === 'masked-lm'
    ? { tie_word_embeddings: true }
    : { id2label: Object.fromEntries(c.id2label.map((l, i) => [String(i), l])), label2id };
  const { id2label: _i, label2id: _l, ...rest } = c.raw;
  return {
    ...(c.head === 'masked-lm' ? rest : c.raw),
    architectures: [c.head === 'masked-lm' ? 'DistilBertForMaskedLM' : 'DistilBertForSequenceClassification'],
    model_type: 'distilbert',
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

export function writeConfig(path: string, c: DistilBertConfig): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(configToJson(c), null, 2) + '\n')]);
}
