import { Random } from '../data/random';
import { ModelConfig, ModelHead, ModelType } from '../model/config';
import { ParamStore } from '../io/params';

/**
 * The classification head, which a pretrained checkpoint does not have: DistilBERT's pre_classifier
 * and classifier; BERT's classifier, and its pooler, which a BertForMaskedLM checkpoint lacks.
 */
const HEAD_PARAMS: Record<ModelType, string[]> = {
  distilbert: ['pre_classifier.weight', 'pre_classifier.bias', 'classifier.weight', 'classifier.bias'],
  bert: ['bert.pooler.dense.weight', 'bert.pooler.dense.bias', 'classifier.weight', 'classifier.bias'],
};

/** The masked-LM head's own tensors (its projector's weight is the word embeddings). */
const MLM_HEAD_PARAMS = ['vocab_transform.weight', 'vocab_transform.bias', 'vocab_layer_norm.weight', 'vocab_layer_norm.bias', 'vocab_projector.bias'];

export function headParams(head: ModelHead, modelType: ModelType): string[] {
  return head === 'masked-lm' ? MLM_HEAD_PARAMS : HEAD_PARAMS[modelType];
}

/**
 * Initializes parameters as HF's DistilBertPreTrainedModel._init_weights (and BERT's) does: Linear and
 * Embedding weights ~ normal(0, initializer_range), biases 0, the padding token's embedding 0,
 * LayerNorm weight 1 and bias 0, and fixed sinusoidal position embeddings when configured.
 */
export function initParams(params: ParamStore<ModelConfig>, rng: Random, names: string[] = params.slots.map((s) => s.name)): void {
  const c = params.config;
  for (const name of names) {
    const t = params.get(name);
    if (name.endsWith('LayerNorm.weight') || name.endsWith('layer_norm.weight')) t.fill(1);
    else if (name.endsWith('.bias')) t.fill(0);
    else if (name === `${c.modelType}.embeddings.position_embeddings.weight` && c.sinusoidalPosEmbds) sinusoidal(t, c);
    else {
      for (let i = 0; i < t.length; i++) t[i] = rng.normal() * c.initializerRange;
      if (name === `${c.modelType}.embeddings.word_embeddings.weight` && c.padTokenId < c.vocabSize) {
        t.fill(0, c.padTokenId * c.dim, (c.padTokenId + 1) * c.dim);
      }
    }
  }
}

/** HF's create_sinusoidal_embeddings: sin on even columns, cos on odd ones. */
function sinusoidal(t: Float32Array, c: ModelConfig): void {
  const D = c.dim;
  for (let pos = 0; pos < c.maxPositionEmbeddings; pos++) {
    for (let j = 0; j < D; j++) {
      const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / D);
      t[pos * D + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
}
