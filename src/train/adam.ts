import { engine } from '../engine/native';
import { PolynomialDecay } from './schedule';

/** A block of rows of which only some take part in an update (the word embeddings). */
export interface SparseBlock {
  offset: number;
  rowLen: number;
  totalRows: number;
  rows: Int32Array;
}

export interface AdamOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Global-norm clipping threshold; undefined = no clipping (the card's setting). */
  clipNorm?: number;
}

/**
 * Adam as Keras 2.12 implements it: the bias correction is folded into the step size and epsilon
 * is added to sqrt(v) afterwards (not to sqrt(v_hat) as in PyTorch):
 *   alpha = lr * sqrt(1 - b2^t) / (1 - b1^t);  p -= alpha * m / (sqrt(v) + eps).
 */
export class KerasAdam {
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Updates applied so far (Keras' `iterations`). */
  step = 0;

  constructor(
    readonly size: number,
    readonly schedule: PolynomialDecay,
    readonly opts: AdamOptions = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
  ) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /** Learning rate of the next update. */
  get lr(): number {
    return this.schedule.at(this.step);
  }

  /**
   * One update. With `sparse`, the block [offset, offset + totalRows * rowLen) is updated on the
   * listed rows only: exact when every other row has zero gradient and zero moments, since Adam
   * then leaves its weights and moments unchanged.
   */
  update(params: Float32Array, grads: Float32Array, sparse?: SparseBlock): void {
    const { beta1, beta2, epsilon, clipNorm } = this.opts;
    if (clipNorm !== undefined) clipGlobalNorm(grads, clipNorm);
    const t = this.step + 1;
    const alpha = (this.lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    const e = engine();
    if (!sparse) {
      e.adamUpdate(params, grads, this.m, this.v, this.size, alpha, beta1, beta2, epsilon);
    } else {
      const end = sparse.offset + sparse.totalRows * sparse.rowLen;
      const range = (a: number, b: number) => {
        if (b > a) e.adamUpdate(params.subarray(a, b), grads.subarray(a, b), this.m.subarray(a, b), this.v.subarray(a, b), b - a, alpha, beta1, beta2, epsilon);
      };
      range(0, sparse.offset);
      range(end, this.size);
      const block = (x: Float32Array) => x.subarray(sparse.offset, end);
      e.adamUpdateRows(block(params), block(grads), block(this.m), block(this.v), sparse.rows, sparse.rows.length, sparse.rowLen,
        sparse.totalRows, alpha, beta1, beta2, epsilon);
    }
    this.step++;
  }
}

/** Scales grads in place so that their global L2 norm is at most maxNorm (tf.clip_by_global_norm). */
export function clipGlobalNorm(grads: Float32Array, maxNorm: number): number {
  let ss = 0;
  for (let i = 0; i < grads.length; i++) ss += grads[i] * grads[i];
  const norm = Math.sqrt(ss);
  if (norm > maxNorm) {
    const s = maxNorm / norm;
    for (let i = 0; i < grads.length; i++) grads[i] *= s;
  }
  return norm;
}
