import type { ProblemType } from '../model/config';

/** What the page shows and asks for: the model's task, whether it reads text pairs, the multi-label threshold. */
export interface PageOptions {
  hybrid?: boolean;
  problemType?: ProblemType;
  pairs?: boolean;
  threshold?: number;
}

/**
 * The web page at `/`: paste a text (or a pair), see the labels as probability bars (multi-label:
 * each label's sigmoid, the chosen ones marked; regression: the value). Self-contained (no network).
 */
export function pageHtml(modelName: string, o: PageOptions = {}): string {
  const hybrid = o.hybrid ?? false, problem = o.problemType ?? 'single_label_classification', pairs = o.pairs ?? false;
  const single = problem === 'single_label_classification';
  const intro = problem === 'regression' ? 'the model predicts a value'
    : problem === 'multi_label_classification' ? `the model scores every label; those over ${o.threshold ?? 0.5} are chosen`
    : 'the model ranks the labels';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bert-20news: ${modelName.replace(/[<>&"]/g, '')}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:56em;margin:2em auto;padding:0 1em;color:#222}
textarea{width:100%;height:12em;font:inherit;padding:.5em;box-sizing:border-box}
button{font:inherit;padding:.4em 1.2em;margin:.5em 0}
.row{display:grid;grid-template-columns:16em 1fr 5em;align-items:center;gap:.5em;margin:2px 0}
.track{background:#eee;height:1em}.bar{background:#1f77b4;height:1em}
.score{text-align:right;font-variant-numeric:tabular-nums}
#notice{color:#a15c00}#error{color:#b00020}
#explanation{white-space:pre-wrap;line-height:1.7;border:1px solid #ddd;padding:.6em}
.w.pos{background:rgba(44,160,44,var(--a))}.w.neg{background:rgba(214,39,40,var(--a))}.w.unread{color:#999}
.w sup{font-size:.7em;font-weight:bold}
.row.chosen .label{font-weight:bold}#value{font-size:1.5em}
</style></head><body>
<h1>bert-20news: ${modelName.replace(/[<>&"]/g, '')}</h1>
<p>Paste a ${pairs ? 'pair of texts' : 'text'}; ${intro}.${hybrid ? ' (Hybrid: the transformer fused with TF-IDF + linear SVM models.)' : ''}</p>
<textarea id="text" placeholder="Which disk controller works with my 486?"></textarea>
${pairs ? '<textarea id="pair" placeholder="The second text of the pair"></textarea>' : ''}
<div><button id="classify">${problem === 'regression' ? 'Predict' : 'Classify'}</button> ${single && !pairs ? '<button id="explain">Explain</button> ' : ''}<span id="status"></span></div>
<p id="notice" hidden></p><p id="error" hidden></p>
<p id="chosen" hidden></p><p id="value" hidden></p>
<div id="results"></div>
<section id="why" hidden><h2>Why <span id="why-label"></span></h2>
<p>Each word's attribution to that label (gradient x input${hybrid ? ', with the TF-IDF parts\' share' : ''}): green and <sup>+</sup> for it, red and <sup>&minus;</sup> against, stronger colour for more; grey words were past what the model reads.</p>
<div id="explanation"></div></section>
<script>
const $ = (id) => document.getElementById(id);
async function classify() {
  $('error').hidden = true; $('notice').hidden = true; $('status').textContent = 'classifying…';
  try {
    const input = $('pair') ? { text: $('text').value, text_pair: $('pair').value } : $('text').value;
    const res = await fetch('/v1/classify', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ texts: [input] }) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || res.statusText);
    const r = body.results[0];
    const box = $('results'); box.textContent = '';
    $('value').hidden = r.value === undefined;
    if (r.value !== undefined) $('value').textContent = 'Value: ' + r.value.toPrecision(6);
    $('chosen').hidden = r.labels === undefined;
    if (r.labels) $('chosen').textContent = 'Labels: ' + (r.labels.length ? r.labels.join(', ') : 'none over the threshold');
    for (const p of r.value === undefined ? r.predictions : []) {
      const row = document.createElement('div'); row.className = 'row' + (r.labels && r.labels.includes(p.label) ? ' chosen' : '');
      const name = document.createElement('span'); name.className = 'label'; name.textContent = p.label;
      const track = document.createElement('div'); track.className = 'track';
      const bar = document.createElement('div'); bar.className = 'bar'; bar.dataset.label = p.label; bar.dataset.score = String(p.score);
      bar.style.width = (100 * p.score).toFixed(2) + '%'; track.appendChild(bar);
      const score = document.createElement('span'); score.className = 'score'; score.textContent = (100 * p.score).toFixed(1) + '%';
      row.append(name, track, score); box.appendChild(row);
    }
    if (r.truncated) { $('notice').textContent = 'The text was longer than the model reads (' + r.tokens + ' tokens kept); only its beginning was classified.'; $('notice').hidden = false; }
    $('status').textContent = '';
  } catch (e) { $('error').textContent = String(e.message || e); $('error').hidden = false; $('status').textContent = ''; }
}
$('classify').addEventListener('click', classify);
async function explain() {
  $('error').hidden = true; $('status').textContent = 'explaining…';
  try {
    const text = $('text').value;
    const res = await fetch('/v1/explain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: [text] }) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || res.statusText);
    const r = body.results[0], shown = r.explained.text ?? text;
    const top = Math.max(1e-12, ...r.explanation.filter((w) => w.read !== false).map((w) => Math.abs(w.score)));
    const box = $('explanation'); box.textContent = '';
    let at = 0;
    for (const w of r.explanation) {
      box.append(shown.slice(at, w.start));
      const span = document.createElement('span');
      span.className = 'w ' + (w.read === false ? 'unread' : w.score >= 0 ? 'pos' : 'neg');
      span.dataset.score = String(w.score); span.title = w.score.toFixed(4);
      span.style.setProperty('--a', (0.75 * Math.abs(w.score) / top).toFixed(3));
      span.textContent = shown.slice(w.start, w.end);
      if (w.read !== false && Math.abs(w.score) >= 0.25 * top) { const sign = document.createElement('sup'); sign.textContent = w.score >= 0 ? '+' : '\u2212'; span.appendChild(sign); }
      box.appendChild(span); at = w.end;
    }
    box.append(shown.slice(at));
    $('why-label').textContent = r.explained.label; $('why').hidden = false; $('status').textContent = '';
  } catch (e) { $('error').textContent = String(e.message || e); $('error').hidden = false; $('status').textContent = ''; }
}
if ($('explain')) $('explain').addEventListener('click', explain);
</script>
</body></html>
`;
}
