import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { Metrics, metricsJson } from './metrics';

export interface ReportInput {
  title: string;
  /** Evaluated systems, the model first; each with its metrics. */
  systems: { name: string; metrics: Metrics; seconds: number }[];
  labels: string[];
  split: string;
  modelConfig?: Record<string, unknown>;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Confusion matrix heatmap as inline SVG: rows = true label, columns = predicted; shade = row share. */
export function confusionSvg(m: Metrics, labels: string[]): string {
  const cell = 22, left = 190, top = 190, n = labels.length;
  const size = left + n * cell + 130; // room for the last rotated column labels
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" class="confusion" width="${size}" height="${top + n * cell + 10}" role="img" aria-label="confusion matrix">`];
  labels.forEach((l, i) => {
    parts.push(`<text x="${left - 6}" y="${top + i * cell + cell * 0.7}" text-anchor="end" font-size="11">${esc(l)}</text>`);
    parts.push(`<text transform="translate(${left + i * cell + cell * 0.7},${top - 6}) rotate(-60)" font-size="11">${esc(l)}</text>`);
  });
  m.confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((v, j) => {
      const share = v / total;
      const fill = i === j ? `rgba(31,119,180,${0.1 + 0.9 * share})` : `rgba(214,39,40,${share === 0 ? 0 : 0.15 + 0.85 * share})`;
      parts.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell - 1}" height="${cell - 1}" fill="${fill}" stroke="#ddd"><title>true ${esc(labels[i])}, predicted ${esc(labels[j])}: ${v}</title></rect>`);
      if (v > 0) parts.push(`<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell * 0.68}" text-anchor="middle" font-size="9">${v}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Horizontal bars of per-class precision, recall and F1 as inline SVG, one group per system. */
export function perClassSvg(systems: ReportInput['systems'], labels: string[]): string {
  const left = 190, width = 320, rowH = 8 * systems.length * 3 + 6, top = 24;
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c'];
 const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="per-class" width="${left + width + 420}" height="${top + labels.length * rowH + 10}" role="img" aria-label="per-class precision, recall and F1">`];
  ['precision', 'recall', 'f1'].forEach((k, i) => parts.push(`<rect x="${left + i * 90}" y="4" width="10" height="10" fill="${colors[i]}"/><text x="${left + i * 90 + 14}" y="13" font-size="11">${k}</text>`));
  if (systems.length > 1) parts.push(`<text x="${left + 270}" y="13" font-size="11">solid: ${esc(systems[0].name)}; faded: ${systems.slice(1).map((s) => esc(s.name)).join(', ')}</text>`);
  labels.forEach((l, r) => {
    const y0 = top + r * rowH;
    parts.push(`<text x="${left - 6}" y="${y0 + rowH / 2}" text-anchor="end" font-size="11">${esc(l)}</text>`);
    systems.forEach((s, si) => {
      (['precision', 'recall', 'f1'] as const).forEach((k, ki) => {
        const v = s.metrics.perClass[r][k];
        const y = y0 + (si * 3 + ki) * 8;
        parts.push(`<rect class="bar" data-system="${esc(s.name)}" data-metric="${k}" x="${left}" y="${y}" width="${(v * width).toFixed(1)}" height="7" fill="${colors[ki]}" opacity="${si === 0 ? 1 : 0.5}"><title>${esc(s.name)} ${k}: ${v.toFixed(4)}</title></rect>`);
      });
    });
  });
  parts.push('</svg>');
  return parts.join('');
}

export function reportHtml(r: ReportInput): string {
  const rows = r.systems.map((s) => `<tr><td>${esc(s.name)}</td><td>${s.metrics.accuracy.toFixed(4)}</td><td>${s.metrics.macroF1.toFixed(4)}</td><td>${s.metrics.count}</td><td>${s.seconds.toFixed(1)}</td></tr>`).join('');
  const perClass = r.labels.map((l, i) => `<tr><td>${esc(l)}</td>${r.systems.map((s) => {
    const c = s.metrics.perClass[i];
    return `<td>${c.precision.toFixed(4)}</td><td>${c.recall.toFixed(4)}</td><td>${c.f1.toFixed(4)}</td>`;
  }).join('')}<td>${r.systems[0].metrics.perClass[i].support}</td></tr>`).join('');
  const heads = r.systems.map((s) => `<th colspan="3">${esc(s.name)}</th>`).join('');
  const sub = r.systems.map(() => '<th>precision</th><th>recall</th><th>F1</th>').join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
</head><body>
<h1>${esc(r.title)}</h1>
<p>Split: ${esc(r.split)}</p>
<h2>Summary</h2>
<table id="summary"><tr><th>system</th><th>accuracy</th><th>macro F1</th><th>examples</th><th>seconds</th></tr>${rows}</table>
<h2>Confusion matrix (${esc(r.systems[0].name)})</h2>
${confusionSvg(r.systems[0].metrics, r.labels)}
<h2>Per class</h2>
${perClassSvg(r.systems, r.labels)}
<table id="per-class"><tr><th></th>${heads}<th></th></tr><tr><th>label</th>${sub}<th>support</th></tr>${perClass}</table>
${r.modelConfig ? `<h2>Model config</h2><pre>${esc(JSON.stringify(r.modelConfig, null, 2))}</pre>` : ''}
</body></html>
`;
}

/** Writes report.json and report.html into dir. */
export function writeReport(dir: string, r: ReportInput): void {
  ensureWritableDir(dir);
  const json = {
    title: r.title, split: r.split, labels: r.labels, model_config: r.modelConfig,
    systems: r.systems.map((s) => ({ name: s.name, seconds: s.seconds, ...metricsJson(s.metrics) })),
  };
  writeFileAtomic(join(dir, 'report.json'), [Buffer.from(JSON.stringify(json, null, 2) + '\n')]);
  writeFileAtomic(join(dir, 'report.html'), [Buffer.from(reportHtml(r))]);
}
