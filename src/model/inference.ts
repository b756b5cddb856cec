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
    const logits = model.forward(batch.inputIds, batch.attentionMask, batch.batchSize, batch.seqLen, { grad: false });
    idx.forEach((i, r) => out.set(logits.subarray(r * C, (r + 1) * C), i * C));
  }
  return out;
}

/** Row-wise softmax of logits [n, C], in float64 for the sums. */
export function softmaxRows(logits: Float32Array, C: number): Float64Array {
  const p = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / C; r++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, logits[r * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += (p[r * C + c] = Math.exp(logits[r * C + c] - mx));
    for (let c = 0; c < C; c++) p[r * C + c] /= s;
  }
  return p;
}

export function argmaxRow(logits: ArrayLike<number>, r: number, C: number): number {
  let best = 0;
  for (let c = 1; c < C; c++) if (logits[r * C + c] > logits[r * C + best]) best = c;
  return best;
}
