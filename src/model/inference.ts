import { Encoding, padBatch } from '../tokenizer';
import { SequenceClassifierModel } from './model';

/**
 * Eval-mode logits [n, numLabels] for encoded texts. Texts are grouped by length so that each
 * batch pads little; the result is in the input order.
 */
export function predictLogits(model: SequenceClassifierModel, encodings: Encoding[], padId: number, batchSize = 32): Float32Array {
  const C = model.config.id2label.length;
  const out = new Float32Array(encodings.length * C);
  const order = encodings.map((_, i) => i).sort((a, b) => encodings[a].ids.length - encodings[b].ids.length);
  for (let s = 0; s < order.length; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const batch = padBatch(idx.map((i) => encodings[i]), padId);
    const logits = model.forward(batch.inputIds, batch.attentionMask, batch.batchSize, batch.seqLen, { grad: false, tokenTypes: batch.tokenTypes });
    idx.forEach((i, r) => out.set(logits.subarray(r * C, (r + 1) * C), i * C));
  }
  return out;
}
