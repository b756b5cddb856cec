import { argmaxRow, logSumExpRow, softmaxRows } from '../maths/rows';

/**
 * Temperature scaling (Guo et al. 2017): one scalar T per model, probabilities softmax(z / T) of
 * its scores z (logits, log-probabilities, or a hybrid's fused scores: softmax is blind to a row's
 * constant), T chosen to minimize the negative log-likelihood of held-out labels. T > 0 never
 * changes a row's argmax. Measured by the expected calibration error over equal-width confidence
 * bins (Naeini et al. 2015; 15 bins as Guo et al.) and the negative log-likelihood.
 */

/** Mean negative log-likelihood of the labels under softmax(z / T). */
export function nllAt(z: ArrayLike<number>, labels: ArrayLike<number>, C: number, T: number): number {
  const scaled = Float64Array.from(z, (v) => v / T);
  let s = 0;
  for (let r = 0; r < labels.length; r++) s += logSumExpRow(scaled, r, C) - scaled[r * C + labels[r]];
  return s / labels.length;
}

/**
 * The temperature of least NLL: golden-section search over log T in [log 0.05, log 20] (the NLL is
 * convex in 1/T, so unimodal in log T), to 1e-4 in log T.
 */
export function fitTemperature(z: ArrayLike<number>, labels: ArrayLike<number>, C: number): number {
  if (labels.length === 0) throw new Error('fitting a temperature needs at least one labelled text');
  const f = (u: number) => nllAt(z, labels, C, Math.exp(u));
  let a = Math.log(0.05), b = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a), d = a + g * (b - a), fc = f(c), fd = f(d);
  while (b - a > 1e-4) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c, c = d, fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}

export interface ReliabilityBin {
  /** Confidence range [lo, hi). */
  lo: number;
  hi: number;
  count: number;
  /** Mean top probability and accuracy of the texts in the bin (0 when empty). */
  confidence: number;
  accuracy: number;
}

export interface CalibrationStats {
  /** Expected calibration error: sum over bins of (count / n) |accuracy - confidence|. */
  ece: number;
  nll: number;
  bins: ReliabilityBin[];
}

/** ECE over `bins` equal-width bins of the top probability, NLL, and the bins (a reliability diagram's bars). */
export function calibrationStats(probs: ArrayLike<number>, labels: ArrayLike<number>, C: number, bins = 15): CalibrationStats {
  const n = labels.length;
  const out: ReliabilityBin[] = Array.from({ length: bins }, (_, k) => ({ lo: k / bins, hi: (k + 1) / bins, count: 0, confidence: 0, accuracy: 0 }));
  let nll = 0;
  for (let r = 0; r < n; r++) {
    const top = argmaxRow(probs, r, C), p = probs[r * C + top];
    const b = out[Math.min(bins - 1, Math.floor(p * bins))];
    b.count++;
    b.confidence += p;
    b.accuracy += top === labels[r] ? 1 : 0;
    nll -= Math.log(Math.max(probs[r * C + labels[r]], 1e-300));
  }
  let ece = 0;
  for (const b of out) {
    if (!b.count) continue;
    ece += Math.abs(b.accuracy - b.confidence) / n;
    b.confidence /= b.count;
    b.accuracy /= b.count;
  }
  return { ece, nll: nll / n, bins: out };
}

/** softmax(z / T) row by row. */
export function withTemperature(z: ArrayLike<number>, C: number, T: number): Float64Array {
  return softmaxRows(Float64Array.from(z, (v) => v / T), C);
}
