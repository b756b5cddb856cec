import { Random } from '../data/random';
import { DistilBertConfig, ModelHead } from '../model/config';
import { ParamStore } from '../io/params';

/** The classification head, which a pretrained DistilBERT checkpoint does not have. */
const HEAD_PARAMS = ['pre_classifier.weight', 'pre_classifier.bias', 'classifier.weight', 'classifier.bias'];

/** The masked-LM head's own tensors (its projector's weight is the word embeddings). */
const MLM_HEAD_PARAMS = ['vocab_transform.weight', 'vocab_transform.bias', 'vocab_layer_norm.weight', 'vocab_layer_norm.bias', 'vocab_projector.bias'];

export function headParams(head: ModelHead): string[] {
  return head === 'masked-lm' ? MLM_HEAD_PARAMS : HEAD_PARAMS;
}

/**
 * Initializes parameters as HF's DistilBertPreTrainedModel._init_weights does: Linear and
 * Embedding weights ~ normal(0, initializer_range), biases 0, the padding token's embedding 0,
 * LayerNorm weight 1 and bias 0, and fixed sinusoidal position embeddings when configured.
 */
export function initParams(params: ParamStore<DistilBertConfig>, rng: Random, names: string[] = params.slots.map((s) => s.name)): void {
  const c = params.config;
  for (const name of names) {
    const t = params.get(name);
    if (name.endsWith('LayerNorm.weight') || name.endsWith('layer_norm.weight')) t.fill(1);
    else if (name.endsWith('.bias')) t.fill(0);
    else if (name === 'distilbert.embeddings.position_embeddings.weight' && c.sinusoidalPosEmbds) sinusoidal(t, c);
    else {
      for (let i = 0; i < t.length; i++) t[i] = rng.normal() * c.initializerRange;
      if (name === 'distilbert.embeddings.word_embeddings.weight' && c.padTokenId < c.vocabSize) {
        t.fill(0, c.padTokenId * c.dim, (c.padTokenId + 1) * c.dim);
      }
    }
  }
}

/** HF's create_sinusoidal_embeddings: sin on even columns, cos on odd ones. */
function sinusoidal(t: Float32Array, c: DistilBertConfig): void {
  const D = c.dim;
  for (let pos = 0; pos < c.maxPositionEmbeddings; pos++) {
    for (let j = 0; j < D; j++) {
      const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / D);
      t[pos * D + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
}
