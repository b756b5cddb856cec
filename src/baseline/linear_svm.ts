import { Random } from '../data/random';
import { argmaxRows } from '../maths/rows';
import { Csr } from './tfidf';

export interface SvmOptions {
  /** Inverse regularization strength (scikit-learn's C). */
  C: number;
  /** Stop when the projected-gradient spread falls below this (liblinear's eps). */
  tol: number;
  maxIter: number;
  seed: number;
}

/**
 * Linear SVM one-vs-rest, L2-regularized squared hinge loss (scikit-learn's LinearSVC defaults),
 * trained by dual coordinate descent as in liblinear (Hsieh et al., 2008). The intercept is a
 * constant feature of value 1, regularized like the weights, as liblinear does.
 */
export class LinearSvm {
  /** [classes][features + 1]; the last column is the intercept. */
  weights: Float64Array[] = [];
  iterations: number[] = [];

  constructor(private readonly opts: SvmOptions = { C: 1, tol: 1e-3, maxIter: 1000, seed: 0 }) {}

  fit(X: Csr, y: Int32Array, classes: number): this {
    const sq = new Float64Array(X.rows);
    for (let r = 0; r < X.rows; r++) {
      let s = 1; // the intercept feature
      for (let k = X.indptr[r]; k < X.indptr[r + 1]; k++) s += X.values[k] * X.values[k];
      sq[r] = s;
    }
    this.weights = [];
    this.iterations = [];
    for (let c = 0; c < classes; c++) {
      const signs = Int8Array.from(y, (v) => (v === c ? 1 : -1));
      const { w, iter } = this.fitBinary(X, signs, sq);
      this.weights.push(w);
      this.iterations.push(iter);
    }
    return this;
  }

  private fitBinary(X: Csr, y: Int8Array, sq: Float64Array): { w: Float64Array; iter: number } {
    const { C, tol, maxIter } = this.opts;
    const d = X.cols;
    const w = new Float64Array(d + 1);
    const alpha = new Float64Array(X.rows);
    const diag = 0.5 / C; // the squared hinge's term on the dual diagonal
    const rng = new Random(this.opts.seed);
    let iter = 0;
    for (; iter < maxIter; iter++) {
      const order = rng.permutation(X.rows);
      let maxPG = -Infinity, minPG = Infinity;
      for (const i of order) {
        let dot = w[d];
        for (let k = X.indptr[i]; k < X.indptr[i + 1]; k++) dot += w[X.indices[k]] * X.values[k];
        const G = y[i] * dot - 1 + diag * alpha[i];
        const PG = alpha[i] === 0 ? Math.min(G, 0) : G;
        maxPG = Math.max(maxPG, PG);
        minPG = Math.min(minPG, PG);
        if (Math.abs(PG) > 1e-12) {
          const old = alpha[i];
          alpha[i] = Math.max(old - G / (sq[i] + diag), 0);
          const step = (alpha[i] - old) * y[i];
          for (let k = X.indptr[i]; k < X.indptr[i + 1]; k++) w[X.indices[k]] += step * X.values[k];
          w[d] += step;
        }
      }
      if (maxPG - minPG <= tol) break;
    }
    return { w, iter: iter + 1 };
  }

  decision(X: Csr): Float64Array {
    const C = this.weights.length;
    const out = new Float64Array(X.rows * C);
    for (let r = 0; r < X.rows; r++) {
      for (let c = 0; c < C; c++) {
        const w = this.weights[c];
        let s = w[X.cols];
        for (let k = X.indptr[r]; k < X.indptr[r + 1]; k++) s += w[X.indices[k]] * X.values[k];
        out[r * C + c] = s;
      }
    }
    return out;
  }

  predict(X: Csr): Int32Array {
    const C = this.weights.length;
    const scores = this.decision(X);
    return argmaxRows(scores, C);
  }
}
