import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TfidfBaseline } from '../baseline/baseline';
import { Analyzer, ANALYZERS } from '../baseline/tfidf';
import { writeFileAtomic } from '../io/atomic';
import { readJsonIfExists } from '../io/json_file';
import { FORMATS, migrateHybridSpec } from '../io/migrations';
import { accuracy, softmaxRows } from '../maths/rows';

/**
 * The hybrid classifier: the transformer and TF-IDF + linear SVM models combined by late fusion,
 *   score = log p_transformer + sum_k lambda_k * svm_k_decision,  p_hybrid = softmax(score),
 * with the lambdas chosen on a slice of the training part that no model was trained on. The TF-IDF
 * models read the text differently from the transformer (word uni+bigrams, character n-grams), so
 * their errors differ too. They live in the model folder beside the transformer: hybrid.json and one
 * folder per part.
 */
export interface HybridPart {
  /** What the part's SVM reads: one analyzer's features, or several side by side. */
  analyzers: Analyzer[];
  /** The part's folder inside the model folder. */
  dir: string;
  /** TF-IDF terms kept, per analyzer: those in at least this many training texts. */
  minDf: number[];
  /** The SVM's C. */
  C: number;
  lambda: number;
}

export interface HybridSpec {
  parts: HybridPart[];
  /** How the lambdas were chosen: the slice's size and seed, and the accuracies on it (parts in order). */
  selection: { slice: number; seed: number; accuracy: { transformer: number; parts: number[]; hybrid: number } };
}

/** Candidate weights of each SVM's decision values against the transformer's log-probabilities. */
const LAMBDAS = [0, 1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500];

export const HYBRID_FILE = 'hybrid.json';

/** A part's folder: tfidf/ and tfidf-char/ for one analyzer, tfidf-A-B/ for several side by side. */
export function partDir(analyzers: Analyzer[]): string {
  if (analyzers.length === 1) return { word: 'tfidf', char_wb: 'tfidf-char' }[analyzers[0]];
  return `tfidf-${analyzers.join('-')}`;
}

/** A part's name in flags and reports: its analyzers joined by '+', as --hybrid-parts takes them. */
export function partName(analyzers: Analyzer[]): string {
  return analyzers.join('+');
}

export class Hybrid {
  constructor(readonly models: TfidfBaseline[], readonly spec: HybridSpec) {
    if (models.length !== spec.parts.length) throw new Error(`${models.length} TF-IDF models for ${spec.parts.length} parts`);
  }

  /** The hybrid of a model folder, or undefined when the folder holds a transformer alone. */
  static load(modelDir: string): Hybrid | undefined {
    const path = join(modelDir, HYBRID_FILE);
    const raw = readJsonIfExists(path);
    if (raw === undefined) {
      // Parts are written before hybrid.json: parts without it are an unfinished or damaged hybrid.
      const orphans = readdirSync(modelDir, { withFileTypes: true }).filter((e) => e.isDirectory() && /^tfidf(-|$)/.test(e.name)).map((e) => `${e.name}/`);
      if (orphans.length) {
        throw new Error(`${modelDir} holds TF-IDF parts (${orphans.join(', ')}) but no ${HYBRID_FILE}: an unfinished hybrid (train --out RUN --resume finishes it) or a damaged one; remove those folders to use the transformer alone`);
      }
      return undefined;
    }
    const spec = readSpec(raw, path);
    return new Hybrid(spec.parts.map((p) => TfidfBaseline.load(join(modelDir, p.dir), p.analyzers, p.C)), spec);
  }

  /** The TF-IDF parts first, hybrid.json last: a folder with hybrid.json has complete parts. */
  save(modelDir: string): void {
    this.models.forEach((m, k) => m.save(join(modelDir, this.spec.parts[k].dir)));
    writeFileAtomic(join(modelDir, HYBRID_FILE), [Buffer.from(JSON.stringify({ format: FORMATS.hybrid, ...this.spec }, null, 2) + '\n')]);
  }

  /** Each part's character attributions for `label` (TfidfBaseline.charAttributions) scaled by its lambda: its share of the fused score. */
  charAttributions(text: string, label: number): Float64Array[] {
    return this.models.map((m, k) => {
      const a = m.charAttributions(text, label);
      const lambda = this.spec.parts[k].lambda;
      for (let i = 0; i < a.length; i++) a[i] *= lambda;
      return a;
    });
  }

  /**
   * Fused scores (log p + sum_k lambda_k s_k) and probabilities of texts whose transformer probabilities are given;
   * also each part's SVM decision values.
   */
  combine(transformer: Float64Array, texts: string[], C: number): { probs: Float64Array; scores: Float64Array; tfidfScores: Float64Array[] } {
    const tfidfScores = this.models.map((m) => m.scores(texts));
    for (const s of tfidfScores) if (s.length !== transformer.length) throw new Error(`a TF-IDF part has ${s.length / texts.length} classes, the transformer ${C}`);
    const scores = fusedScores(transformer, tfidfScores, this.spec.parts.map((p) => p.lambda));
    return { probs: softmaxRows(scores, C), scores, tfidfScores };
  }
}

/** hybrid.json after migrateHybridSpec (io/migrations.ts brings older forms to this one), checked. */
function readSpec(raw: unknown, path: string): HybridSpec {
  const o = migrateHybridSpec(raw, path);
  const parts = o.parts;
  if (!Array.isArray(parts) || parts.length === 0) throw new Error(`${path}: "parts" must list the TF-IDF parts`);
  for (const p of o.parts as HybridPart[]) {
    if (!Array.isArray(p.analyzers) || p.analyzers.length === 0) throw new Error(`${path}: a part's "analyzers" must list its analyzers`);
    for (const a of p.analyzers) if (!ANALYZERS.includes(a)) throw new Error(`${path}: unknown analyzer ${JSON.stringify(a)} (known: ${ANALYZERS.join(', ')})`);
    if (typeof p.C !== 'number' || !(p.C > 0)) throw new Error(`${path}: a part's C must be a positive number`);
    if (typeof p.lambda !== 'number' || !(p.lambda >= 0)) throw new Error(`${path}: lambda must be a non-negative number`);
    if (typeof p.dir !== 'string' || p.dir === '' || p.dir.includes('..')) throw new Error(`${path}: a part's dir must name a folder inside the model folder`);
  }
  return o as unknown as HybridSpec;
}

/** log p + sum_k lambda_k * s_k, value by value. */
export function fusedScores(p: Float64Array, s: Float64Array[], lambdas: number[]): Float64Array<ArrayBuffer> {
  const z = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    z[i] = Math.log(Math.max(p[i], 1e-300));
    s.forEach((sk, k) => (z[i] += lambdas[k] * sk[i]));
  }
  return z;
}

/** softmax(log p + sum_k lambda_k * s_k) row by row. */
export function fuse(p: Float64Array, s: Float64Array[], lambdas: number[], C: number): Float64Array {
  const z = fusedScores(p, s, lambdas);
  return softmaxRows(z, C, z);
}

function logLoss(p: Float64Array, labels: Int32Array, C: number): number {
  let s = 0;
  labels.forEach((l, r) => (s -= Math.log(Math.max(p[r * C + l], 1e-300))));
  return s / labels.length;
}

/** Every combination of one candidate weight per part. */
function* grid(parts: number): Generator<number[]> {
  if (parts === 0) {
    yield [];
    return;
  }
  for (const rest of grid(parts - 1)) for (const l of LAMBDAS) yield [...rest, l];
}

/**
 * The lambdas of best accuracy on held-out texts over the grid of candidates (ties: lower
 * log-loss), with the transformer's and each part's own accuracy there.
 */
export function chooseLambdas(p: Float64Array, s: Float64Array[], labels: Int32Array, C: number): { lambdas: number[]; accuracy: HybridSpec['selection']['accuracy'] } {
  let best = { lambdas: s.map(() => 0), acc: -1, loss: Infinity };
  for (const lambdas of grid(s.length)) {
    const f = fuse(p, s, lambdas, C);
    const acc = accuracy(f, labels, C), loss = logLoss(f, labels, C);
    if (acc > best.acc || (acc === best.acc && loss < best.loss)) best = { lambdas, acc, loss };
  }
  return { lambdas: best.lambdas, accuracy: { transformer: accuracy(p, labels, C), parts: s.map((sk) => accuracy(sk, labels, C)), hybrid: best.acc } };
}
