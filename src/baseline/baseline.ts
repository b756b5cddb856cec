import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { LinearSvm } from './linear_svm';
import { Analyzer, Csr, TfidfVectorizer } from './tfidf';

/**
 * The classical baseline: TF-IDF (word uni+bigrams by default, or character n-grams; sublinear tf)
 * + one-vs-rest linear SVM. minDf > 1 drops rare terms: minDf 3 keeps 0.31 M of the 1.56 M word
 * features of the card split's training part (a 26 MB file instead of 130 MB), at some accuracy
 * (see hybrid_build/build.ts). Several vectorizers put their features side by side (scikit-learn's
 * FeatureUnion), each block scaled by 1/sqrt(blocks) so that a text's row keeps unit norm; one SVM
 * reads them all.
 */
export class TfidfBaseline {
  readonly svm: LinearSvm;

  /** C: the SVM's inverse regularization strength (scikit-learn's LinearSVC default 1). */
  constructor(readonly vectorizers: TfidfVectorizer[] = [new TfidfVectorizer()], readonly C = 1) {
    if (vectorizers.length === 0) throw new Error('a TF-IDF model needs at least one vectorizer');
    this.svm = new LinearSvm({ C, tol: 0.1, maxIter: 1000, seed: 0 });
  }

  get analyzers(): Analyzer[] {
    return this.vectorizers.map((v) => v.analyzer);
  }

  get features(): number {
    return this.vectorizers.reduce((n, v) => n + v.features, 0);
  }

  fit(texts: string[], labels: Int32Array, classes: number): this {
    this.svm.fit(sideBySide(this.vectorizers.map((v) => v.fitTransform(texts))), labels, classes);
    return this;
  }

  /** SVM decision values [n, classes]. */
  scores(texts: string[]): Float64Array {
    return this.svm.decision(this.matrix(texts));
  }

  /**
   * Each character's share of the SVM's decision value for `label` less its intercept (the empty
   * text's value): every feature's weight x value, spread evenly over the characters of its
   * occurrences in the text. The shares sum to that difference (the model is linear).
   */
  charAttributions(text: string, label: number): Float64Array {
    const out = new Float64Array(text.length);
    const w = this.svm.weights[label];
    const scale = this.vectorizers.length === 1 ? 1 : 1 / Math.sqrt(this.vectorizers.length);
    let offset = 0;
    for (const v of this.vectorizers) {
      for (const f of v.featureSpans(text)) {
        const share = (w[offset + f.column] * f.value * scale) / f.occurrences.length;
        for (const spans of f.occurrences) {
          const chars = spans.reduce((n, [a, b]) => n + b - a, 0);
          for (const [a, b] of spans) for (let i = a; i < b; i++) out[i] += share / chars;
        }
      }
      offset += v.features;
    }
    return out;
  }

  predict(texts: string[]): Int32Array {
    return this.svm.predict(this.matrix(texts));
  }

  private matrix(texts: string[]): Csr {
    return sideBySide(this.vectorizers.map((v) => v.transform(texts)));
  }

  /**
   * Into `dir`: the terms in column order (terms.txt for one vectorizer; terms-ANALYZER.txt for each
   * of several, in order) and model.safetensors (idf of every column, SVM weights with the intercept last).
   */
  save(dir: string): void {
    ensureWritableDir(dir);
    const states = this.vectorizers.map((v) => v.state());
    const idf = new Float32Array(this.features);
    let at = 0;
    for (const s of states) {
      idf.set(s.idf, at);
      at += s.idf.length;
    }
    const C = this.svm.weights.length, F = idf.length;
    const weights = new Float32Array(C * (F + 1));
    this.svm.weights.forEach((w, c) => weights.set(w, c * (F + 1)));
    writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'idf', shape: [F], data: idf },
      { name: 'weights', shape: [C, F + 1], data: weights },
    ]);
    states.forEach((s, k) => writeFileAtomic(join(dir, termsFile(this.analyzers, k)), [Buffer.from(s.terms.join('\n') + '\n')]));
  }

  /** The analyzers are not in the folder: the hybrid's hybrid.json names them. */
  static load(dir: string, analyzers: Analyzer[] = ['word'], C = 1): TfidfBaseline {
    const files = analyzers.map((_, k) => termsFile(analyzers, k));
    for (const f of [...files, 'model.safetensors']) if (!existsSync(join(dir, f))) throw new Error(`${join(dir, f)} is missing: the hybrid's TF-IDF part is incomplete`);
    const terms = files.map((f) => readFileSync(join(dir, f), 'utf8').split('\n').slice(0, -1));
    const F = terms.reduce((n, t) => n + t.length, 0);
    const t = readSafetensors(join(dir, 'model.safetensors'));
    const idf = t.get('idf'), weights = t.get('weights');
    if (!idf || idf.data.length !== F || !weights || weights.shape.length !== 2 || weights.shape[1] !== F + 1) {
      throw new Error(`${dir}: model.safetensors does not hold idf [${F}] and weights [classes, ${F + 1}] for the ${F} terms`);
    }
    let at = 0;
    const vectorizers = terms.map((block, k) => TfidfVectorizer.restore(block, idf.data.subarray(at, (at += block.length)), analyzers[k]));
    const model = new TfidfBaseline(vectorizers, C);
    model.svm.weights = Array.from({ length: weights.shape[0] }, (_, c) => Float64Array.from(weights.data.subarray(c * (F + 1), (c + 1) * (F + 1))));
    return model;
  }
}

function termsFile(analyzers: Analyzer[], k: number): string {
  return analyzers.length === 1 ? 'terms.txt' : `terms-${analyzers[k]}.txt`;
}

/** The blocks' columns side by side, each block's values scaled by 1/sqrt(blocks); one block is returned as it is. */
export function sideBySide(blocks: Csr[]): Csr {
  if (blocks.length === 1) return blocks[0];
  const rows = blocks[0].rows, scale = 1 / Math.sqrt(blocks.length);
  for (const b of blocks) if (b.rows !== rows) throw new Error(`blocks of ${b.rows} and ${rows} rows`);
  const nnz = blocks.reduce((n, b) => n + b.indices.length, 0);
  const indptr = new Int32Array(rows + 1), indices = new Int32Array(nnz), values = new Float32Array(nnz);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    let offset = 0;
    for (const b of blocks) {
      for (let q = b.indptr[r]; q < b.indptr[r + 1]; q++) {
        indices[k] = b.indices[q] + offset;
        values[k++] = b.values[q] * scale;
      }
      offset += b.cols;
    }
    indptr[r + 1] = k;
  }
  return { rows, cols: blocks.reduce((n, b) => n + b.cols, 0), indptr, indices, values };
}
