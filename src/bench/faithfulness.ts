import { Random } from '../data/random';
import { Classifier } from '../pipeline/classifier';
import { explain, ExplainMethod, WordAttribution } from '../pipeline/explain';

/**
 * ERASER's comprehensiveness (DeYoung et al. 2020) of word attributions: how much the predicted
 * label's probability drops when the k most attributed words are deleted from the text (their
 * characters removed, the text read again), against the drop for k random words of those the model
 * read (mean of `draws` draws). A faithful method's words matter more than random ones: the
 * difference is > 0.
 */
export interface FaithfulnessResult {
  method: ExplainMethod;
  steps?: number;
  texts: number;
  /** Means over the texts. */
  dropTop: number;
  dropRandom: number;
  comprehensiveness: number;
  /** Integrated gradients: mean |sum of attributions - (f(text) - f(baseline))| / |f(text) - f(baseline)|. */
  completenessError?: number;
  seconds: number;
}

/** The text without the characters of the given words. */
export function deleteWords(text: string, words: WordAttribution[]): string {
  let out = text;
  for (const w of [...words].sort((a, b) => b.start - a.start)) out = out.slice(0, w.start) + out.slice(w.end);
  return out;
}

export function faithfulness(classifier: Classifier, texts: string[], opts: { method: ExplainMethod; steps?: number; k?: number; draws?: number; seed?: number }): FaithfulnessResult {
  const k = opts.k ?? 5, draws = opts.draws ?? 5, C = classifier.labels.length;
  const rng = new Random(opts.seed ?? 0);
  // The variants are texts as the model reads them already: its strip rules are not applied twice.
  const reader = classifier.strip.length ? new Classifier({ ...classifier, strip: [] }) : classifier;
  const t0 = Date.now();
  let dropTop = 0, dropRandom = 0, completeness = 0, counted = 0;
  for (const text of texts) {
    const e = explain(classifier, text, { method: opts.method, steps: opts.steps });
    const c = classifier.labels.indexOf(e.label);
    // Deletions act on the text as the model read it (the spans index it).
    const read = e.text ?? classifier.preprocess(text);
    const candidates = e.words.filter((w) => w.read && /[\p{L}\p{N}]/u.test(w.word));
    const top = [...candidates].sort((a, b) => b.score - a.score).slice(0, k);
    const random = Array.from({ length: draws }, () => rng.permutation(candidates.length).slice(0, k).map((i) => candidates[i]));
    const variants = [read, deleteWords(read, top), ...random.map((ws) => deleteWords(read, ws))];
    const p = reader.probabilities(variants).probs;
    const at = (v: number) => p[v * C + c];
    dropTop += at(0) - at(1);
    let r = 0;
    for (let d = 0; d < draws; d++) r += at(0) - at(2 + d);
    dropRandom += r / draws;
    if (e.baselineValue !== undefined) {
      const total = e.words.reduce((s, w) => s + w.score, e.special);
      const diff = e.value - e.baselineValue;
      if (Math.abs(diff) > 1) {
        completeness += Math.abs(total - diff) / Math.abs(diff);
        counted++;
      }
    }
  }
  const n = texts.length;
  return {
    method: opts.method, ...(opts.method === 'ig' ? { steps: opts.steps } : {}), texts: n, dropTop: dropTop / n, dropRandom: dropRandom / n,
    comprehensiveness: (dropTop - dropRandom) / n, ...(counted ? { completenessError: completeness / counted } : {}), seconds: (Date.now() - t0) / 1000,
  };
}
