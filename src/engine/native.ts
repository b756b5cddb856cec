import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The native engine (native/*.cc, built by node-gyp at npm install). Every function works on
 * caller-owned typed arrays in place; sizes are checked natively and a mismatch throws.
 * Shapes: N rows, `in`/`out` features; B batch, T sequence length, D model dim, H heads.
 */
export interface Engine {
  setThreads(n: number): void;
  getThreads(): number;
  linearForward(x: Float32Array, W: Float32Array, b: Float32Array | null, y: Float32Array, N: number, inF: number, outF: number): void;
  linearBackward(
    dy: Float32Array, x: Float32Array, W: Float32Array, dx: Float32Array | null, dxBeta: 0 | 1,
    dW: Float32Array, db: Float32Array | null, N: number, inF: number, outF: number,
  ): void;
  layerNormForward(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, out: Float32Array, mean: Float32Array, rstd: Float32Array,
    N: number, D: number, eps: number,
  ): void;
  layerNormBackward(
    dout: Float32Array, x: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, N: number, D: number,
  ): void;
  /**
   * The first Tq positions of each sequence attend to all T (Tq = T: self-attention; 1: [CLS] only).
   * q rows have stride ldq, k and v rows stride ldkv (column blocks of a fused projection).
   */
  attentionForward(
    q: Float32Array, ldq: number, k: Float32Array, v: Float32Array, ldkv: number, mask: Int32Array, probs: Float32Array, ctx: Float32Array,
    B: number, Tq: number, T: number, D: number, H: number, dropout: number, seed: number,
  ): void;
  attentionBackward(
    dctx: Float32Array, q: Float32Array, ldq: number, k: Float32Array, v: Float32Array, ldkv: number, probs: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array, B: number, Tq: number, T: number, D: number, H: number, dropout: number, seed: number,
  ): void;
  activationForward(x: Float32Array, y: Float32Array, n: number, act: ActivationId): void;
  activationBackward(dy: Float32Array, x: Float32Array, dx: Float32Array, n: number, act: ActivationId): void;
  /** Dropout on rows x cols; element (r, c) draws random number r * rowStride + c of the stream. */
  dropoutForward(x: Float32Array, y: Float32Array, rows: number, cols: number, rowStride: number, p: number, seed: number): void;
  dropoutBackward(dy: Float32Array, dx: Float32Array, rows: number, cols: number, rowStride: number, p: number, seed: number): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  /** Returns -1, or the index of the first id outside [0, V). */
  embeddingForward(ids: Int32Array, word: Float32Array, pos: Float32Array, out: Float32Array, B: number, T: number, D: number, V: number): number;
  embeddingBackward(ids: Int32Array, dout: Float32Array, dword: Float32Array, dpos: Float32Array | null, B: number, T: number, D: number, V: number): void;
  /** Mean loss; writes (softmax - onehot) / B into dlogits when given. */
  softmaxCrossEntropy(logits: Float32Array, labels: Int32Array, dlogits: Float32Array | null, B: number, C: number): number;
  adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, alpha: number, beta1: number, beta2: number, eps: number): void;
  /** adamUpdate on the listed rows (each rowLen values) of a [totalRows, rowLen] block only. */
  adamUpdateRows(
    p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, rows: Int32Array, nRows: number, rowLen: number, totalRows: number,
    alpha: number, beta1: number, beta2: number, eps: number,
  ): void;
  zeroRows(x: Float32Array, rows: Int32Array, nRows: number, rowLen: number, totalRows: number): void;
}

/** Activation ids shared with native/kernels.h. */
export const Activation = { gelu: 0, gelu_new: 1, relu: 2 } as const;
export type ActivationId = (typeof Activation)[keyof typeof Activation];

let loaded: Engine | undefined;

export function engine(): Engine {
  if (loaded) return loaded;
  // dist/src/engine -> repository root
  const path = join(__dirname, '..', '..', '..', 'build', 'Release', 'engine.node');
  if (!existsSync(path)) {
    throw new Error(`native engine not built (${path} missing): run npm install (needs g++ and libopenblas-openmp-dev)`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded = require(path) as Engine;
  return loaded;
}
