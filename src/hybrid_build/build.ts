import { TfidfBaseline } from '../baseline/baseline';
import { Analyzer, TfidfVectorizer } from '../baseline/tfidf';
import { Random } from '../data/random';
import { Post } from '../data/newsgroups';
import { Classifier } from '../pipeline/classifier';
import { fitTemperature } from '../eval/calibration';
import { chooseLambdas, fusedScores, Hybrid, partDir } from '../hybrid/hybrid';
import { Calibration } from '../model/model_dir';

/**
 * Terms kept by each part. The word part keeps every term, as the baseline does. Measured on the
 * 256-token main job's card run (validation accuracy of the fusion at the lambda the held-out slice
 * chose): all 1.56 M terms 0.9501 (143 MiB stored), terms of 3+ texts 0.9459 (0.31 M terms, 26 MB),
 * below the baseline's 0.9464. The char_wb part keeps n-grams of 2+ texts: 0.78 M of them on the
 * card split (alone 0.9411 on its validation posts).
 */
export const HYBRID_MIN_DF: Record<Analyzer, number> = { word: 1, char_wb: 2 };

/**
 * The SVM's C for a part: scikit-learn's default 1 for one analyzer (the baseline's); 2 for several
 * side by side, chosen by 3-fold cross-validation on the card split's training part alone: word +
 * char_wb at C 0.5, 1, 2, 4, 8 reach 0.9330, 0.9354, 0.9367, 0.9373, 0.9375; 2 is the smallest C
 * within one standard error (0.0019) of the best, and fits in 75 s where C 1 takes 55 s and larger C
 * take longer still (more passes before the dual converges).
 */
export function hybridC(analyzers: Analyzer[]): number {
  return analyzers.length > 1 ? 2 : 1;
}

/**
 * The training part cut in two by a seeded draw: the transformer trains on `fit`; `slice` is
 * held out from both models to choose the fusion weight, so that no evaluation text ever does.
 */
export function fusionSlice(posts: Post[], fraction: number, seed: number): { fit: Post[]; slice: Post[] } {
  const order = Random.derive(seed, 0x66757365).permutation(posts.length);
  const n = Math.max(1, Math.round(fraction * posts.length));
  if (n >= posts.length) throw new Error(`--fusion-fraction ${fraction} leaves no training texts`);
  const held = new Set(order.slice(0, n));
  return { fit: posts.filter((_, i) => !held.has(i)), slice: posts.filter((_, i) => held.has(i)) };
}

export interface HybridInputs {
  /** The trained transformer as a pipeline (no hybrid of its own): its probabilities, its preprocessing. */
  transformer: Classifier;
  fit: Post[];
  slice: Post[];
  seed: number;
  /** Each part's analyzers (one, or several side by side). */
  parts: Analyzer[][];
}

/**
 * Fits the TF-IDF parts on the transformer's training texts, chooses their lambdas on the held-out
 * slice with every model's scores there, then fits the stored parts on the whole training part.
 * The temperatures of the transformer's and the fused probabilities are fitted on the same slice,
 * with the same scores (parts that had not seen it).
 */
export function buildHybrid(x: HybridInputs): { hybrid: Hybrid; calibration: Calibration } {
  const labels = x.transformer.labels, C = labels.length;
  const index = new Map(labels.map((l, i) => [l, i]));
  const side = (posts: Post[]) => ({ texts: posts.map((p) => x.transformer.preprocess(p.text)), labels: Int32Array.from(posts, (p) => index.get(p.group)!) });
  const fit = side(x.fit), slice = side(x.slice);
  const part = (as: Analyzer[]) => new TfidfBaseline(as.map((a) => new TfidfVectorizer(HYBRID_MIN_DF[a], a)), hybridC(as));
  const scores = x.parts.map((as) => part(as).fit(fit.texts, fit.labels, C).scores(slice.texts));
  const probs = x.transformer.probabilities(x.slice.map((p) => p.text)).probs;
  const chosen = chooseLambdas(probs, scores, slice.labels, C);
  const logP = Float64Array.from(probs, (p) => Math.log(Math.max(p, 1e-300)));
  const calibration = {
    transformer: fitTemperature(logP, slice.labels, C),
    hybrid: fitTemperature(fusedScores(probs, scores, chosen.lambdas), slice.labels, C),
    fittedOn: `${x.slice.length} training texts held out from every part`,
  };
  const all = { texts: [...fit.texts, ...slice.texts], labels: Int32Array.from([...fit.labels, ...slice.labels]) };
  const models = x.parts.map((as) => part(as).fit(all.texts, all.labels, C));
  const parts = x.parts.map((as, k) => ({ analyzers: as, dir: partDir(as), minDf: as.map((a) => HYBRID_MIN_DF[a]), C: hybridC(as), lambda: chosen.lambdas[k] }));
  return { hybrid: new Hybrid(models, { parts, selection: { slice: x.slice.length, seed: x.seed, accuracy: chosen.accuracy } }), calibration };
}
