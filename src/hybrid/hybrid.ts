import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TfidfBaseline } from '../baseline/baseline';
import { writeFileAtomic } from '../io/atomic';

/**
 * The hybrid classifier: the transformer and a TF-IDF + linear SVM model combined by late fusion,
 *   score = log p_transformer + lambda * svm_decision,  p_hybrid = softmax(score),
 * with lambda chosen on a slice of the training part that neither model was trained on. It lives
 * in the model folder beside the transformer: hybrid.json and tfidf/.
 */
export interface HybridSpec {
  lambda: number;
  /** TF-IDF terms kept: those in at least this many training texts. */
  minDf: number;
  /** How lambda was chosen: the slice's size and seed, and the accuracies on it. */
  selection: { slice: number; seed: number; accuracy: { transformer: number; tfidf: number; hybrid: number } };
}

/** Candidate weights of the SVM's decision values against the transformer's log-probabilities. */
const LAMBDAS = [0, 1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500];

export const HYBRID_FILE = 'hybrid.json';

export class Hybrid {
  constructor(readonly tfidf: TfidfBaseline, readonly spec: HybridSpec) {}

  /** The hybrid of a model folder, or undefined when the folder holds a transformer alone. */
  static load(modelDir: string): Hybrid | undefined {
    const path = join(modelDir, HYBRID_FILE);
    if (!existsSync(path)) return undefined;
    let spec: HybridSpec;
    try {
      spec = JSON.parse(readFileSync(path, 'utf8')) as HybridSpec;
    } catch (e) {
      throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
    }
    if (typeof spec.lambda !== 'number' || !(spec.lambda >= 0)) throw new Error(`${path}: lambda must be a non-negative number`);
    return new Hybrid(TfidfBaseline.load(join(modelDir, 'tfidf')), spec);
  }

  /** The TF-IDF part first, hybrid.json last: a folder with hybrid.json has a complete part. */
  save(modelDir: string): void {
    this.tfidf.save(join(modelDir, 'tfidf'));
    writeFileAtomic(join(modelDir, HYBRID_FILE), [Buffer.from(JSON.stringify(this.spec, null, 2) + '\n')]);
  }

  /** Fused probabilities of texts whose transformer probabilities are given; also the SVM's decision values. */
  combine(transformer: Float64Array, texts: string[], C: number): { probs: Float64Array; tfidfScores: Float64Array } {
    const tfidfScores = this.tfidf.scores(texts);
    if (tfidfScores.length !== transformer.length) throw new Error(`the TF-IDF part has ${tfidfScores.length / texts.length} classes, the transformer ${C}`);
    return { probs: fuse(transformer, tfidfScores, this.spec.lambda, C), tfidfScores };
  }
}

/** softmax(log p + lambda * s) row by row. */
export function fuse(p: Float64Array, s: Float64Array, lambda: number, C: number): Float64Array {
  const out = new Float64Array(p.length);
  for (let r = 0; r < p.length / C; r++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      out[i] = Math.log(Math.max(p[i], 1e-300)) + lambda * s[i];
      mx = Math.max(mx, out[i]);
    }
    let sum = 0;
    for (let c = 0; c < C; c++) sum += (out[r * C + c] = Math.exp(out[r * C + c] - mx));
    for (let c = 0; c < C; c++) out[r * C + c] /= sum;
  }
  return out;
}

function accuracy(scores: Float64Array, labels: Int32Array, C: number): number {
  let ok = 0;
  labels.forEach((l, r) => {
    let best = 0;
    for (let c = 1; c < C; c++) if (scores[r * C + c] > scores[r * C + best]) best = c;
    if (best === l) ok++;
  });
  return ok / labels.length;
}

function logLoss(p: Float64Array, labels: Int32Array, C: number): number {
  let s = 0;
  labels.forEach((l, r) => (s -= Math.log(Math.max(p[r * C + l], 1e-300))));
  return s / labels.length;
}

/** The lambda of best accuracy on held-out texts (ties: lower log-loss), with both parts' accuracies there. */
export function chooseLambda(p: Float64Array, s: Float64Array, labels: Int32Array, C: number): { lambda: number; accuracy: HybridSpec['selection']['accuracy'] } {
  let best = { lambda: 0, acc: -1, loss: Infinity };
  for (const lambda of LAMBDAS) {
    const f = fuse(p, s, lambda, C);
    const acc = accuracy(f, labels, C), loss = logLoss(f, labels, C);
    if (acc > best.acc || (acc === best.acc && loss < best.loss)) best = { lambda, acc, loss };
  }
  return { lambda: best.lambda, accuracy: { transformer: accuracy(p, labels, C), tfidf: accuracy(s, labels, C), hybrid: best.acc } };
}
