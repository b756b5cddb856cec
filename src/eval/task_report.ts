import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { esc, reportPage } from './report';
import { formatMultiLabel, multiLabelJson, MultiLabelMetrics, regressionJson, RegressionMetrics } from './task_metrics';

/** report.json and report.html of a multi-label or regression model (report.ts has the single-label one). */
export interface TaskReportInput {
  title: string;
  split: string;
  seconds: number;
  modelConfig?: Record<string, unknown>;
  multiLabel?: MultiLabelMetrics;
  regression?: { metrics: RegressionMetrics; truth: ArrayLike<number>; predicted: ArrayLike<number> };
}


/** Predicted against true values as an inline SVG scatter plot, with the diagonal y = x. */
export function scatterSvg(truth: ArrayLike<number>, predicted: ArrayLike<number>): string {
  const size = 360, pad = 40;
  const all = [...Array.from(truth), ...Array.from(predicted)];
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi === lo) (lo -= 1), (hi += 1);
  const at = (v: number) => pad + ((v - lo) / (hi - lo)) * (size - 2 * pad);
  const points = Array.from(truth, (t, i) => `<circle cx="${at(t).toFixed(1)}" cy="${(size - at(predicted[i])).toFixed(1)}" r="2.5" fill="#3366cc" fill-opacity="0.6"/>`).join('');
  return `<svg id="scatter" xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" role="img" aria-label="predicted against true values">
<rect x="${pad}" y="${pad}" width="${size - 2 * pad}" height="${size - 2 * pad}" fill="none" stroke="#999"/>
<line x1="${at(lo)}" y1="${size - at(lo)}" x2="${at(hi)}" y2="${size - at(hi)}" stroke="#cc3333" stroke-dasharray="4 3"/>
${points}
<text x="${size / 2}" y="${size - 8}" text-anchor="middle" font-size="12">true value (${lo.toPrecision(3)} .. ${hi.toPrecision(3)})</text>
<text x="12" y="${size / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 12 ${size / 2})">predicted</text>
</svg>`;
}

/** Each label's F1 as a horizontal bar. */
function f1Bars(m: MultiLabelMetrics): string {
  const w = 420, row = 18, left = 160;
  const bars = m.perLabel.map((l, i) => `<text x="${left - 6}" y="${i * row + 13}" text-anchor="end" font-size="12">${esc(l.label)}</text><rect x="${left}" y="${i * row + 3}" width="${(l.f1 * (w - left - 50)).toFixed(1)}" height="${row - 6}" fill="#3366cc"/><text x="${left + l.f1 * (w - left - 50) + 4}" y="${i * row + 13}" font-size="11">${l.f1.toFixed(3)}</text>`).join('');
  return `<svg id="per-label-f1" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${m.perLabel.length * row + 6}">${bars}</svg>`;
}

export function taskReportHtml(r: TaskReportInput): string {
  let body = '';
  if (r.multiLabel) {
    const m = r.multiLabel;
    body = `<h2>Summary</h2>
<table id="summary"><tr><th>subset accuracy</th><th>micro F1</th><th>macro F1</th><th>threshold</th><th>examples</th><th>seconds</th></tr>
<tr><td>${m.subsetAccuracy.toFixed(4)}</td><td>${m.microF1.toFixed(4)}</td><td>${m.macroF1.toFixed(4)}</td><td>${m.threshold}</td><td>${m.count}</td><td>${r.seconds.toFixed(1)}</td></tr></table>
<h2>Per label</h2>
${f1Bars(m)}
<table id="per-label"><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>${m.perLabel.map((l) => `<tr><td>${esc(l.label)}</td><td>${l.precision.toFixed(4)}</td><td>${l.recall.toFixed(4)}</td><td>${l.f1.toFixed(4)}</td><td>${l.support}</td></tr>`).join('')}</table>
<pre>${esc(formatMultiLabel(m, 'per label'))}</pre>`;
  } else if (r.regression) {
    const m = r.regression.metrics;
    body = `<h2>Summary</h2>
<table id="summary"><tr><th>RMSE</th><th>MAE</th><th>Pearson</th><th>Spearman</th><th>examples</th><th>seconds</th></tr>
<tr><td>${m.rmse.toFixed(4)}</td><td>${m.mae.toFixed(4)}</td><td>${m.pearson.toFixed(4)}</td><td>${m.spearman.toFixed(4)}</td><td>${m.count}</td><td>${r.seconds.toFixed(1)}</td></tr></table>
<h2>Predicted against true values</h2>
${scatterSvg(r.regression.truth, r.regression.predicted)}`;
  }
  return reportPage(r.title, r.split, body, r.modelConfig);
}

/** Writes report.json and report.html into dir. */
export function writeTaskReport(dir: string, r: TaskReportInput): void {
  ensureWritableDir(dir);
  const json = {
    title: r.title, split: r.split, seconds: r.seconds, model_config: r.modelConfig,
    ...(r.multiLabel ? { multi_label: multiLabelJson(r.multiLabel) } : {}),
    ...(r.regression ? { regression: regressionJson(r.regression.metrics) } : {}),
  };
  writeFileAtomic(join(dir, 'report.json'), [Buffer.from(JSON.stringify(json, null, 2) + '\n')]);
  writeFileAtomic(join(dir, 'report.html'), [Buffer.from(taskReportHtml(r))]);
}
