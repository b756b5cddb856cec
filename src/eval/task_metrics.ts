import { ClassMetrics } from './metrics';

/** Multi-label figures as scikit-learn computes them (zero_division 0). */
export interface MultiLabelMetrics {
  count: number;
  threshold: number;
  /** Rows whose every label is right. */
  subsetAccuracy: number;
  /** F1 of all (row, label) decisions pooled. */
  microF1: number;
  microPrecision: number;
  microRecall: number;
  /** Unweighted mean of the labels' F1. */
  macroF1: number;
  perLabel: ClassMetrics[];
}

/**
 * Multi-label metrics of sigmoid scores [n, C] against 0/1 targets [n, C]: a label is predicted
 * where its score is over the threshold (scikit-learn's f1_score(average='micro'|'macro'),
 * accuracy_score on the label sets, per-label precision/recall/F1/support).
 */
export function multiLabelMetrics(targets: ArrayLike<number>, scores: ArrayLike<number>, labels: string[], threshold = 0.5): MultiLabelMetrics {
  const C = labels.length, n = targets.length / C;
  if (scores.length !== targets.length || !Number.isInteger(n)) throw new Error(`${targets.length} targets and ${scores.length} scores for ${C} labels`);
  const tp = new Array<number>(C).fill(0), fp = new Array<number>(C).fill(0), fn = new Array<number>(C).fill(0);
  let exact = 0;
  for (let r = 0; r < n; r++) {
    let right = true;
    for (let c = 0; c < C; c++) {
      const y = targets[r * C + c] > 0.5, p = scores[r * C + c] > threshold;
      if (y && p) tp[c]++;
      else if (p) fp[c]++;
      else if (y) fn[c]++;
      if (y !== p) right = false;
    }
    if (right) exact++;
  }
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const f1 = (p: number, r: number) => ratio(2 * p * r, p + r);
  const perLabel = labels.map((label, c) => {
    const precision = ratio(tp[c], tp[c] + fp[c]), recall = ratio(tp[c], tp[c] + fn[c]);
    return { label, precision, recall, f1: f1(precision, recall), support: tp[c] + fn[c] };
  });
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const microPrecision = ratio(sum(tp), sum(tp) + sum(fp)), microRecall = ratio(sum(tp), sum(tp) + sum(fn));
  return {
    count: n, threshold, subsetAccuracy: ratio(exact, n), microPrecision, microRecall, microF1: f1(microPrecision, microRecall),
    macroF1: sum(perLabel.map((l) => l.f1)) / C, perLabel,
  };
}

/** Regression figures of predictions against the true values. */
export interface RegressionMetrics {
  count: number;
  rmse: number;
  mae: number;
  /** Pearson's r; NaN where either side is constant. */
  pearson: number;
  /** Spearman's rho: Pearson's r of the ranks, ties given their mean rank (scipy.stats.spearmanr). */
  spearman: number;
}

function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) mx += x[i] / n, my += y[i] / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Ranks from 1, tied values sharing the mean of their ranks. */
export function ranks(x: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const out = new Float64Array(x.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1]] === x[order[i]]) j++;
    for (let k = i; k <= j; k++) out[order[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

export function regressionMetrics(truth: ArrayLike<number>, predicted: ArrayLike<number>): RegressionMetrics {
  const n = truth.length;
  if (predicted.length !== n || n === 0) throw new Error(`${n} true values and ${predicted.length} predictions`);
  let se = 0, ae = 0;
  for (let i = 0; i < n; i++) {
    se += (predicted[i] - truth[i]) ** 2;
    ae += Math.abs(predicted[i] - truth[i]);
  }
  return { count: n, rmse: Math.sqrt(se / n), mae: ae / n, pearson: pearson(truth, predicted), spearman: pearson(ranks(truth), ranks(predicted)) };
}

/** Plain-text form of multi-label metrics: one row per label, then the pooled figures. */
export function formatMultiLabel(m: MultiLabelMetrics, title: string): string {
  const w = Math.max(...m.perLabel.map((c) => c.label.length), 15);
  const row = (name: string, p: string, r: string, f: string, s: string) => `${name.padEnd(w)}  ${p.padStart(9)}  ${r.padStart(9)}  ${f.padStart(9)}  ${s.padStart(7)}`;
  const lines = [`${title} (a label is chosen over ${m.threshold})`, row('', 'precision', 'recall', 'f1', 'support')];
  for (const c of m.perLabel) lines.push(row(c.label, c.precision.toFixed(4), c.recall.toFixed(4), c.f1.toFixed(4), String(c.support)));
  lines.push('', row('micro avg', m.microPrecision.toFixed(4), m.microRecall.toFixed(4), m.microF1.toFixed(4), String(m.count)));
  lines.push(row('macro avg', '', '', m.macroF1.toFixed(4), String(m.count)));
  lines.push(row('subset accuracy', '', '', m.subsetAccuracy.toFixed(4), String(m.count)));
  return lines.join('\n');
}

export function formatRegression(m: RegressionMetrics, title: string): string {
  return `${title}\nRMSE ${m.rmse.toFixed(4)}, MAE ${m.mae.toFixed(4)}, Pearson ${m.pearson.toFixed(4)}, Spearman ${m.spearman.toFixed(4)} (${m.count} texts)`;
}

export function multiLabelJson(m: MultiLabelMetrics): Record<string, unknown> {
  return { count: m.count, threshold: m.threshold, subset_accuracy: m.subsetAccuracy, micro_precision: m.microPrecision, micro_recall: m.microRecall, micro_f1: m.microF1, macro_f1: m.macroF1, per_label: m.perLabel };
}

export function regressionJson(m: RegressionMetrics): Record<string, unknown> {
  return { count: m.count, rmse: m.rmse, mae: m.mae, pearson: m.pearson, spearman: m.spearman };
}
