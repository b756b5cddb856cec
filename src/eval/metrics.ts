export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Metrics {
  count: number;
  accuracy: number;
  macroPrecision: number;
  macroRecall: number;
  macroF1: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] */
  confusion: number[][];
}

/**
 * Accuracy, per-class precision / recall / F1 and their unweighted (macro) means, as
 * scikit-learn's classification_report computes them; an undefined ratio (no predictions or
 * no support for a class) counts as 0, scikit-learn's zero_division default.
 */
export function computeMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: string[]): Metrics {
  if (yTrue.length !== yPred.length) throw new Error(`${yTrue.length} true labels but ${yPred.length} predictions`);
  const C = labels.length;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) {
    confusion[yTrue[i]][yPred[i]]++;
    if (yTrue[i] === yPred[i]) correct++;
  }
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const perClass = labels.map((label, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { label, precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const mean = (k: 'precision' | 'recall' | 'f1') => perClass.reduce((a, m) => a + m[k], 0) / C;
  return {
    count: yTrue.length,
    accuracy: ratio(correct, yTrue.length),
    macroPrecision: mean('precision'),
    macroRecall: mean('recall'),
    macroF1: mean('f1'),
    perClass,
    confusion,
  };
}

/** Plain-text table: one row per class, then accuracy and macro averages. */
export function formatMetrics(m: Metrics, title: string): string {
  const w = Math.max(...m.perClass.map((c) => c.label.length), 12);
  const row = (name: string, p: string, r: string, f: string, s: string) => `${name.padEnd(w)}  ${p.padStart(9)}  ${r.padStart(9)}  ${f.padStart(9)}  ${s.padStart(7)}`;
  const lines = [title, row('', 'precision', 'recall', 'f1', 'support')];
  for (const c of m.perClass) lines.push(row(c.label, c.precision.toFixed(4), c.recall.toFixed(4), c.f1.toFixed(4), String(c.support)));
  lines.push('', row('accuracy', '', '', m.accuracy.toFixed(4), String(m.count)));
  lines.push(row('macro avg', m.macroPrecision.toFixed(4), m.macroRecall.toFixed(4), m.macroF1.toFixed(4), String(m.count)));
  return lines.join('\n');
}

/** The JSON form printed by --json: accuracy, macro_f1, per_class and the confusion matrix. */
export function metricsJson(m: Metrics): Record<string, unknown> {
  return {
    count: m.count,
    accuracy: m.accuracy,
    macro_precision: m.macroPrecision,
    macro_recall: m.macroRecall,
    macro_f1: m.macroF1,
    per_class: m.perClass,
    confusion: m.confusion,
  };
}
