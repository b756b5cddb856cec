/**
 * Row-wise maths over [n, C] score matrices stored flat (row r: values r*C .. r*C + C - 1): the
 * one place where softmax, log-sum-exp, argmax and accuracy are written (transformers.js keeps its
 * pipelines' maths in one module the same way). Sums run in float64.
 */

/** log(sum(exp(x[r*C + c]))) over row r, shifted by the row's max. */
export function logSumExpRow(x: ArrayLike<number>, r: number, C: number): number {
  let mx = -Infinity;
  for (let c = 0; c < C; c++) mx = Math.max(mx, x[r * C + c]);
  let s = 0;
  for (let c = 0; c < C; c++) s += Math.exp(x[r * C + c] - mx);
  return mx + Math.log(s);
}

/** Row-wise softmax of x [n, C] into a fresh float64 array (out may be x itself when x is one). */
export function softmaxRows(x: ArrayLike<number>, C: number, out = new Float64Array(x.length)): Float64Array {
  for (let r = 0; r < x.length / C; r++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, x[r * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += (out[r * C + c] = Math.exp(x[r * C + c] - mx));
    for (let c = 0; c < C; c++) out[r * C + c] /= s;
  }
  return out;
}

/** The column of row r's largest value (the first one on ties). */
export function argmaxRow(x: ArrayLike<number>, r: number, C: number): number {
  let best = 0;
  for (let c = 1; c < C; c++) if (x[r * C + c] > x[r * C + best]) best = c;
  return best;
}

/** Every row's argmax. */
export function argmaxRows(x: ArrayLike<number>, C: number): Int32Array {
  return Int32Array.from({ length: x.length / C }, (_, r) => argmaxRow(x, r, C));
}

/** Share of rows whose argmax is the label. */
export function accuracy(x: ArrayLike<number>, labels: ArrayLike<number>, C: number): number {
  let ok = 0;
  for (let r = 0; r < labels.length; r++) if (argmaxRow(x, r, C) === labels[r]) ok++;
  return ok / labels.length;
}
