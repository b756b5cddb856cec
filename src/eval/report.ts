import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { CalibrationStats } from './calibration';
import { Metrics, metricsJson } from './metrics';

/** One system's calibration on the evaluated texts: before its temperature and, where it has one, after. */
export interface CalibrationReport {
  name: string;
  before: CalibrationStats;
  after?: CalibrationStats;
  temperature?: number;
  fittedOn?: string;
}

export interface ReportInput {
  title: string;
  /** Evaluated systems, the model first; each with its metrics. */
  systems: { name: string; metrics: Metrics; seconds: number }[];
  labels: string[];
  split: string;
  modelConfig?: Record<string, unknown>;
  calibration?: CalibrationReport[];
  /** Per label, the words with the largest summed attribution over its correctly classified texts. */
  topWords?: { label: string; words: { word: string; score: number }[] }[];
}

export const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A report page: its title, split, the task's sections, and the model's config. */
export function reportPage(title: string, split: string, body: string, modelConfig?: Record<string, unknown>): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>Split: ${esc(split)}</p>
${body}
${modelConfig ? `<h2>Model config</h2><pre>${esc(JSON.stringify(modelConfig, null, 2))}</pre>` : ''}
</body></html>
`;
}

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

/**
 * A reliability diagram as inline SVG: per confidence bin, the accuracy (bars) against the diagonal of
 * perfect calibration; before the temperature faded, after it solid.
 */
export function reliabilitySvg(c: CalibrationReport): string {
  const size = 220, left = 40, top = 10;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="reliability" width="${left + size + 10}" height="${top + size + 40}" role="img" aria-label="reliability diagram of ${esc(c.name)}">`];
  parts.push(`<line x1="${left}" y1="${top + size}" x2="${left + size}" y2="${top}" stroke="#999" stroke-dasharray="4 3"/>`);
  parts.push(`<rect x="${left}" y="${top}" width="${size}" height="${size}" fill="none" stroke="#ccc"/>`);
  const bars = (st: CalibrationStats, fill: string, opacity: number, cls: string) => st.bins.forEach((b) => {
    if (!b.count) return;
    const h = b.accuracy * size;
    parts.push(`<rect class="${cls}" x="${(left + b.lo * size).toFixed(1)}" y="${(top + size - h).toFixed(1)}" width="${((b.hi - b.lo) * size - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}" opacity="${opacity}"><title>confidence ${b.lo.toFixed(2)}-${b.hi.toFixed(2)}: ${b.count} texts, mean confidence ${b.confidence.toFixed(3)}, accuracy ${b.accuracy.toFixed(3)}</title></rect>`);
  });
  bars(c.before, '#ff7f0e', c.after ? 0.45 : 1, 'before');
  if (c.after) bars(c.after, '#1f77b4', 0.8, 'after');
  parts.push(`<text x="${left + size / 2}" y="${top + size + 28}" text-anchor="middle" font-size="11">confidence (top probability); bars: accuracy</text>`);
  parts.push('</svg>');
  return parts.join('');
}

function calibrationHtml(cs: CalibrationReport[]): string {
  const f = (x: CalibrationStats | undefined, k: 'ece' | 'nll') => (x ? x[k].toFixed(4) : '-');
  const rows = cs.map((c) => `<tr><td>${esc(c.name)}</td><td>${c.temperature?.toFixed(4) ?? '-'}</td><td>${f(c.before, 'ece')}</td><td>${f(c.after, 'ece')}</td><td>${f(c.before, 'nll')}</td><td>${f(c.after, 'nll')}</td><td>${esc(c.fittedOn ?? 'no temperature in the model folder')}</td></tr>`).join('');
  return `<h2>Calibration</h2>
<p>Expected calibration error (15 equal-width confidence bins) and negative log-likelihood on these texts, before and after the model's temperature. In the diagrams, faded bars are before, solid after; a calibrated model's bars reach the diagonal.</p>
<table id="calibration"><tr><th>system</th><th>temperature</th><th>ECE before</th><th>ECE after</th><th>NLL before</th><th>NLL after</th><th>fitted on</th></tr>${rows}</table>
${cs.map((c) => `<figure><figcaption>${esc(c.name)}</figcaption>${reliabilitySvg(c)}</figure>`).join('')}`;
}

function topWordsHtml(t: NonNullable<ReportInput['topWords']>): string {
  return `<h2>Words that made each label</h2>
<p>For each label, the 15 words with the largest summed gradient x input (the transformer's, on its embeddings output) over the texts of that label it classified correctly.</p>
<table id="top-words"><tr><th>label</th><th>words</th></tr>${t.map((l) => `<tr><td>${esc(l.label)}</td><td style="text-align:left">${l.words.map((w) => `<span class="word" title="${w.score.toFixed(3)}">${esc(w.word)}</span>`).join(', ')}</td></tr>`).join('')}</table>`;
}

export function reportHtml(r: ReportInput): string {
  const rows = r.systems.map((s) => `<tr><td>${esc(s.name)}</td><td>${s.metrics.accuracy.toFixed(4)}</td><td>${s.metrics.macroF1.toFixed(4)}</td><td>${s.metrics.count}</td><td>${s.seconds.toFixed(1)}</td></tr>`).join('');
  const perClass = r.labels.map((l, i) => `<tr><td>${esc(l)}</td>${r.systems.map((s) => {
    const c = s.metrics.perClass[i];
    return `<td>${c.precision.toFixed(4)}</td><td>${c.recall.toFixed(4)}</td><td>${c.f1.toFixed(4)}</td>`;
  }).join('')}<td>${r.systems[0].metrics.perClass[i].support}</td></tr>`).join('');
  const heads = r.systems.map((s) => `<th colspan="3">${esc(s.name)}</th>`).join('');
  const sub = r.systems.map(() => '<th>precision</th><th>recall</th><th>F1</th>').join('');
  return reportPage(r.title, r.split, `<h2>Summary</h2>
<table id="summary"><tr><th>system</th><th>accuracy</th><th>macro F1</th><th>examples</th><th>seconds</th></tr>${rows}</table>
<h2>Confusion matrix (${esc(r.systems[0].name)})</h2>
${confusionSvg(r.systems[0].metrics, r.labels)}
<h2>Per class</h2>
${perClassSvg(r.systems, r.labels)}
<table id="per-class"><tr><th></th>${heads}<th></th></tr><tr><th>label</th>${sub}<th>support</th></tr>${perClass}</table>
${r.calibration?.length ? calibrationHtml(r.calibration) : ''}
${r.topWords?.length ? topWordsHtml(r.topWords) : ''}`, r.modelConfig);
}

/** Writes report.json and report.html into dir. */
export function writeReport(dir: string, r: ReportInput): void {
  ensureWritableDir(dir);
  const json = {
    title: r.title, split: r.split, labels: r.labels, model_config: r.modelConfig,
    systems: r.systems.map((s) => ({ name: s.name, seconds: s.seconds, ...metricsJson(s.metrics) })),
    calibration: r.calibration?.map((c) => ({ name: c.name, temperature: c.temperature, fitted_on: c.fittedOn, before: { ece: c.before.ece, nll: c.before.nll }, after: c.after && { ece: c.after.ece, nll: c.after.nll } })),
    top_words: r.topWords,
  };
  writeFileAtomic(join(dir, 'report.json'), [Buffer.from(JSON.stringify(json, null, 2) + '\n')]);
  writeFileAtomic(join(dir, 'report.html'), [Buffer.from(reportHtml(r))]);
}
