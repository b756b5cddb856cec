import { ForwardOptions, SequenceClassifierModel } from './model';
import { EngineModel } from './engine_model';

export type { ForwardOptions } from './model';

/** DistilBertForSequenceClassification or BertForSequenceClassification on the native engine (see EngineModel). */
export class EncoderClassifier extends EngineModel implements SequenceClassifierModel {
  private last?: { B: number; T: number; allHidden: boolean };

  forward(ids: Int32Array, mask: Int32Array, B: number, T: number, opts: ForwardOptions = {}): Float32Array {
    if (ids.length !== B * T || mask.length !== B * T) throw new Error(`input_ids and attention_mask must both have ${B}x${T} values`);
    if (opts.tokenTypes && opts.tokenTypes.length !== B * T) throw new Error(`token_type_ids must have ${B}x${T} values`);
    const logits = new Float32Array(B * this.config.id2label.length);
    const allHidden = opts.allHiddenStates ?? false;
    // DistilBERT has no token types: a pair's segments are told apart by its [SEP] alone, as in transformers.
    const types = this.config.modelType === 'bert' ? opts.tokenTypes ?? null : null;
    this.native.forward(ids, mask, B, T, opts.train ?? false, opts.seed ?? 0, opts.grad ?? true, allHidden, logits, null, types);
    this.last = { B, T, allHidden };
    return logits;
  }

  forwardEmbedded(embedded: Float32Array, mask: Int32Array, B: number, T: number): Float32Array {
    if (embedded.length !== B * T * this.config.dim || mask.length !== B * T) throw new Error(`embeddings and attention_mask must have ${B}x${T}x${this.config.dim} and ${B}x${T} values`);
    const logits = new Float32Array(B * this.config.id2label.length);
    this.native.forwardEmbedded(embedded, mask, B, T, logits);
    this.last = { B, T, allHidden: false };
    return logits;
  }

  inputGradients(dlogits: Float32Array): { grad: Float32Array; embedded: Float32Array } {
    if (!this.last) throw new Error('inputGradients() needs a forward pass first');
    const n = this.last.B * this.last.T * this.config.dim;
    const grad = new Float32Array(n), embedded = new Float32Array(n);
    this.native.inputGradients(dlogits, grad, embedded);
    return { grad, embedded };
  }

  /** The head's hidden vector [B*dim] of the last eval-mode forward: BERT's pooler output, DistilBERT's pre_classifier + ReLU. */
  pooledOutput(): Float32Array {
    if (!this.last) throw new Error('pooledOutput() needs a forward pass first');
    const out = new Float32Array(this.last.B * this.config.dim);
    this.native.pooledOutput(out);
    return out;
  }

  /** Hidden states of the last forward (run with allHiddenStates): embeddings output, then each layer's output. */
  hiddenStates(): Float32Array[] {
    if (!this.last?.allHidden) throw new Error('hiddenStates() needs a forward pass with allHiddenStates');
    const n = this.last.B * this.last.T * this.config.dim;
    return Array.from({ length: this.config.nLayers + 1 }, (_, i) => {
      const h = new Float32Array(n);
      this.native.hiddenState(i, h);
      return h;
    });
  }
}
