import { withTemperature } from '../eval/calibration';
import { argmaxRow, logSumExpRow, softmaxRows } from '../maths/rows';
import { partName } from '../hybrid/hybrid';
import { SequenceClassifierModel } from '../model/model';
import { Classifier } from './classifier';

/**
 * Word attributions: which words of a text made the classifier's score for a label.
 *
 * The transformer's part is taken on the embeddings output (word + position embeddings after their
 * LayerNorm), the tensor every layer reads, for f = the target label's log-probability:
 * - 'grad': gradient x input, sum over features of df/dx * x per token (one forward, one backward
 *   that forms input gradients only);
 * - 'ig': integrated gradients (Sundararajan et al. 2017) on the straight line from a baseline, the
 *   same text with every word's token replaced by [PAD] ([CLS], [SEP], positions and the mask kept),
 *   by the trapezoid rule over `steps` intervals: the token scores sum to f(text) - f(baseline) up to
 *   the rule's error.
 * WordPiece pieces are summed into the words they split (tokenizer spans). A hybrid's TF-IDF parts are
 * linear: each feature's weight x value for the label, times the part's lambda, spread over the
 * characters it read, summed per word by character spans (their baseline is the empty text). The fused
 * score is log p_transformer + sum_k lambda_k svm_k, so the parts' attributions add up to its change.
 */
export type ExplainMethod = 'grad' | 'ig';

export const EXPLAIN_METHODS: readonly ExplainMethod[] = ['grad', 'ig'];

export interface ExplainOptions {
  method?: ExplainMethod;
  /** Integrated gradients' intervals (default 32). */
  steps?: number;
  /** The label explained (default: the predicted one). */
  label?: string;
  /** Rows of one forward pass over the path's points: at most this many tokens (default 4096). */
  chunkTokens?: number;
}

export interface WordAttribution {
  /** The word as written: text.slice(start, end). */
  word: string;
  /** UTF-16 code units of the text the model read (JavaScript string indices). */
  start: number;
  end: number;
  /** Which text of the input the word is in (0: the one text). */
  segment: number;
  /** Its attribution to the explained score (positive: for the label). */
  score: number;
  /** False for words past truncation: the transformer never read them (a hybrid's TF-IDF parts read the whole text). */
  read: boolean;
  /** A hybrid's attribution by part: "transformer" and each TF-IDF part's name. */
  parts?: Record<string, number>;
}

export interface Explanation {
  label: string;
  /** The label's probability (the hybrid's fused one; calibrated where the model folder has temperatures). */
  probability: number;
  method: ExplainMethod;
  steps?: number;
  /** What the scores explain: the label's log-probability, or a hybrid's fused score of it. */
  explains: 'log-probability' | 'fused score';
  /** That value for the text, and (integrated gradients) for its baseline. */
  value: number;
  baselineValue?: number;
  /** The transformer's attribution to [CLS] and [SEP] (no word's): part of the sum, not of any word. */
  special: number;
  words: WordAttribution[];
  truncated: boolean;
  cut: boolean;
  /** The text the spans index, when the model's preprocessing (strip rules) changed it. */
  text?: string;
}

export const DEFAULT_IG_STEPS = 32;
export const MAX_IG_STEPS = 1024;

/** One text's explanation by the classifier (see the module comment). */
export function explain(classifier: Classifier, text: string, opts: ExplainOptions = {}): Explanation {
  const method = opts.method ?? 'grad';
  if (!EXPLAIN_METHODS.includes(method)) throw new Error(`unknown explanation method ${JSON.stringify(method)} (known: ${EXPLAIN_METHODS.join(', ')})`);
  const steps = opts.steps ?? DEFAULT_IG_STEPS;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_IG_STEPS) throw new Error(`steps must be an integer from 1 to ${MAX_IG_STEPS} (got ${steps})`);
  if (classifier.problemType !== 'single_label_classification') throw new Error(`explanations attribute a softmax class's log-probability: this model is ${classifier.problemType}`);
  const C = classifier.labels.length;
  const read = classifier.preprocess(text);
  const tok = classifier.tokenizer;
  const spans = tok.spans(read);
  const room = classifier.maxLength - 2;
  const kept = spans.tokens.slice(0, room);
  const ids = Int32Array.from([tok.clsId, ...kept.map((t) => t.id), tok.sepId]);
  const T = ids.length;

  const model = classifier.model;
  const logits = model.forward(ids, new Int32Array(T).fill(1), 1, T, { grad: true });
  const transformer = softmaxRows(Float64Array.from(logits), C);
  const combined = classifier.hybrid?.combine(transformer, [read], C);
  const cal = classifier.calibration;
  const fused = combined ? withTemperature(combined.scores, C, cal?.hybrid ?? 1) : withTemperature(logits, C, cal?.transformer ?? 1);
  let target = argmaxRow(fused, 0, C);
  if (opts.label !== undefined) {
    target = classifier.labels.indexOf(opts.label);
    if (target < 0) throw new Error(`no label ${JSON.stringify(opts.label)} (labels: ${classifier.labels.join(', ')})`);
  }
  const { scores: tokenScores, value: transformerValue, baselineValue: transformerBaseline } = tokenAttributions(model, ids, target, { method, steps, chunkTokens: opts.chunkTokens, padId: tok.padId }, logits);
  let value = transformerValue, baselineValue = transformerBaseline;
  const hybrid = classifier.hybrid;
  const parts = hybrid?.charAttributions(read, target);
  if (hybrid && combined) {
    // z = log p + sum_k lambda_k s_k; the parts' baseline is the empty text, whose decision values are the intercepts.
    const lambdas = hybrid.spec.parts.map((p) => p.lambda);
    value += combined.tfidfScores.reduce((z, s, k) => z + lambdas[k] * s[target], 0);
    if (baselineValue !== undefined) baselineValue += hybrid.models.reduce((z, m, k) => z + lambdas[k] * m.scores([''])[target], 0);
  }
  const wordScores = new Float64Array(spans.words.length);
  kept.forEach((t, k) => (wordScores[t.word] += tokenScores[k + 1]));
  const readWords = new Set(kept.map((t) => t.word));
  const partNames = classifier.hybrid?.spec.parts.map((p) => partName(p.analyzers)) ?? [];
  const words = spans.words.map((w, k): WordAttribution => {
    const out: WordAttribution = { word: read.slice(w.start, w.end), start: w.start, end: w.end, segment: 0, score: wordScores[k], read: readWords.has(k) };
    if (parts) {
      out.parts = { transformer: wordScores[k] };
      parts.forEach((a, p) => {
        let s = 0;
        for (let i = w.start; i < w.end; i++) s += a[i];
        out.parts![partNames[p]] = s;
        out.score += s;
      });
    }
    return out;
  });
  const explanation: Explanation = {
    label: classifier.labels[target],
    probability: fused[target],
    method,
    explains: parts ? 'fused score' : 'log-probability',
    value,
    special: tokenScores[0] + tokenScores[T - 1],
    words,
    truncated: spans.tokens.length > room,
    cut: text.length > classifier.maxTextChars,
  };
  if (method === 'ig') Object.assign(explanation, { steps, baselineValue });
  // Spans index `text` itself unless strip rules changed more than its length.
  if (read !== text.slice(0, classifier.maxTextChars)) explanation.text = read;
  return explanation;
}

/** d log softmax(z)_target / dz = onehot(target) - softmax(z), for each row of logits [B, C] (one target for all rows). */
function logProbGradient(logits: Float32Array, target: number, C = 0): Float32Array {
  const width = C || logits.length;
  const p = softmaxRows(Float64Array.from(logits), width);
  return Float32Array.from(p, (v, i) => (i % width === target ? 1 : 0) - v);
}

/**
 * The transformer's attribution of each token of one sequence (ids with [CLS] first and [SEP] last) to
 * the target's log-probability, that value, and (integrated gradients) the baseline's value.
 * `logits`: the sequence's logits from a forward just run with gradients kept (else one is run).
 */
export function tokenAttributions(model: SequenceClassifierModel, ids: Int32Array, target: number, opts: { method: ExplainMethod; steps: number; padId: number; chunkTokens?: number }, logits?: Float32Array): { scores: Float64Array; value: number; baselineValue?: number } {
  const T = ids.length, C = model.config.id2label.length;
  const z = logits ?? model.forward(ids, new Int32Array(T).fill(1), 1, T, { grad: true });
  const at = model.inputGradients(logProbGradient(z, target));
  const value = z[target] - logSumExpRow(z, 0, C);
  if (opts.method === 'ig') return { ...integratedGradients(model, ids, opts.padId, target, opts.steps, at, opts.chunkTokens ?? 4096), value };
  const scores = new Float64Array(T);
  for (let t = 0; t < T; t++) scores[t] = dot(at.grad, at.embedded, t, model.config.dim);
  return { scores, value };
}

function dot(a: Float32Array, b: Float32Array, t: number, D: number): number {
  let s = 0;
  for (let d = t * D; d < (t + 1) * D; d++) s += a[d] * b[d];
  return s;
}

/**
 * Integrated gradients of one text's tokens: the path's end points come from token ids (the text's
 * gradient is given), the points between from their embeddings outputs, in chunks of rows.
 */
function integratedGradients(model: SequenceClassifierModel, ids: Int32Array, padId: number, target: number, steps: number, at: { grad: Float32Array; embedded: Float32Array }, chunkTokens: number): { scores: Float64Array; baselineValue: number } {
  const T = ids.length, D = model.config.dim, C = model.config.id2label.length, n = T * D;
  const baselineIds = ids.map((id, t) => (t === 0 || t === T - 1 ? id : padId));
  const baseLogits = model.forward(baselineIds, new Int32Array(T).fill(1), 1, T, { grad: true });
  const base = model.inputGradients(logProbGradient(baseLogits, target));
  const x = at.embedded, b = base.embedded;
  // Trapezoid rule: the end points weigh 1/(2m), the points between 1/m.
  const avg = new Float64Array(n);
  for (let i = 0; i < n; i++) avg[i] = (at.grad[i] + base.grad[i]) / (2 * steps);
  const rows = Math.max(1, Math.floor(chunkTokens / T));
  for (let k0 = 1; k0 < steps; k0 += rows) {
    const B = Math.min(rows, steps - k0);
    const points = new Float32Array(B * n);
    for (let r = 0; r < B; r++) {
      const alpha = (k0 + r) / steps;
      for (let i = 0; i < n; i++) points[r * n + i] = b[i] + alpha * (x[i] - b[i]);
    }
    const logits = model.forwardEmbedded(points, new Int32Array(B * T).fill(1), B, T);
    const g = model.inputGradients(logProbGradient(logits, target, C)).grad;
    for (let r = 0; r < B; r++) for (let i = 0; i < n; i++) avg[i] += g[r * n + i] / steps;
  }
  const scores = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let s = 0;
    for (let i = t * D; i < (t + 1) * D; i++) s += (x[i] - b[i]) * avg[i];
    scores[t] = s;
  }
  return { scores, baselineValue: baseLogits[target] - logSumExpRow(baseLogits, 0, C) };
}

/** An explanation as predict --json and the server give it: the words ("explanation"), and what they explain ("explained"). */
export function explanationJson(e: Explanation): Record<string, unknown> {
  return {
    explanation: e.words.map((w) => ({ word: w.word, start: w.start, end: w.end, segment: w.segment, score: w.score, ...(w.read ? {} : { read: false }), ...(w.parts ? { parts: w.parts } : {}) })),
    explained: {
      label: e.label, probability: e.probability, method: e.method, ...(e.steps ? { steps: e.steps } : {}), of: e.explains, value: e.value,
      ...(e.baselineValue !== undefined ? { baseline_value: e.baselineValue } : {}), special_tokens: e.special, ...(e.text !== undefined ? { text: e.text } : {}),
    },
  };
}

/**
 * For each label, the k words with the largest summed gradient x input (the transformer's, for that
 * label) over the texts given for it (evaluate gives the correctly classified ones); words are
 * compared lowercased, and those without a letter or digit left out.
 */
export function topWords(classifier: Classifier, texts: string[], labels: ArrayLike<number>, k = 15): { label: string; words: { word: string; score: number }[] }[] {
  const transformer = new Classifier({ ...classifier, hybrid: undefined });
  const sums = classifier.labels.map(() => new Map<string, number>());
  texts.forEach((text, i) => {
    const e = explain(transformer, text, { method: 'grad', label: classifier.labels[labels[i]] });
    for (const w of e.words) {
      if (!w.read || !/[\p{L}\p{N}]/u.test(w.word)) continue;
      const key = w.word.toLowerCase();
      sums[labels[i]].set(key, (sums[labels[i]].get(key) ?? 0) + w.score);
    }
  });
  return classifier.labels.map((label, c) => ({
    label,
    words: [...sums[c]].sort((a, b) => b[1] - a[1]).slice(0, k).map(([word, score]) => ({ word, score })),
  }));
}
