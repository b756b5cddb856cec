import { ForwardOptions } from './model';
import { EngineModel } from './engine_model';

/**
 * DistilBertForMaskedLM on the native engine: config.head must be 'masked-lm'. The head runs on
 * the predicted positions only, so a batch with 15% of its tokens masked pays for the 30k-wide
 * vocabulary projection at those positions alone.
 */
export class DistilBertMaskedLM extends EngineModel {
  /**
   * Forward over row-major [B, T] ids and mask, predicting at `predict` (increasing flat positions
   * b*T+t). Returns the logits [predict.length, vocab] when `logits` is asked for; training needs
   * only loss(), so the default skips copying them out.
   */
  forward(ids: Int32Array, mask: Int32Array, B: number, T: number, predict: Int32Array,
    opts: Omit<ForwardOptions, 'allHiddenStates'> & { logits?: boolean } = {}): Float32Array | undefined {
    if (this.config.head !== 'masked-lm') throw new Error('DistilBertMaskedLM needs a config with head "masked-lm"');
    if (ids.length !== B * T || mask.length !== B * T) throw new Error(`input_ids and attention_mask must both have ${B}x${T} values`);
    const logits = opts.logits ? new Float32Array(predict.length * this.config.vocabSize) : null;
    this.native.forward(ids, mask, B, T, opts.train ?? false, opts.seed ?? 0, opts.grad ?? true, false, logits, predict);
    return logits ?? undefined;
  }
}
