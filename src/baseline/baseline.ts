import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { LinearSvm } from './linear_svm';
import { Analyzer, TfidfVectorizer } from './tfidf';

/**
 * The classical baseline: TF-IDF (word uni+bigrams by default, or character n-grams; sublinear tf)
 * + one-vs-rest linear SVM. minDf > 1 drops rare terms: minDf 3 keeps 0.31 M of the 1.56 M word
 * features of the card split's training part (a 26 MB file instead of 130 MB), at some accuracy
 * (see hybrid/build.ts).
 */
export class TfidfBaseline {
  readonly svm = new LinearSvm({ C: 1, tol: 0.1, maxIter: 1000, seed: 0 });

  constructor(readonly vectorizer = new TfidfVectorizer()) {}

  fit(texts: string[], labels: Int32Array, classes: number): this {
    this.svm.fit(this.vectorizer.fitTransform(texts), labels, classes);
    return this;
  }

  /** SVM decision values [n, classes]. */
  scores(texts: string[]): Float64Array {
    return this.svm.decision(this.vectorizer.transform(texts));
  }

  predict(texts: string[]): Int32Array {
    return this.svm.predict(this.vectorizer.transform(texts));
  }

  /** Into `dir`: terms.txt (one term per line, in column order) and model.safetensors (idf, SVM weights with the intercept last). */
  save(dir: string): void {
    ensureWritableDir(dir);
    const { terms, idf } = this.vectorizer.state();
    const C = this.svm.weights.length, F = terms.length;
    const weights = new Float32Array(C * (F + 1));
    this.svm.weights.forEach((w, c) => weights.set(w, c * (F + 1)));
    writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'idf', shape: [F], data: Float32Array.from(idf) },
      { name: 'weights', shape: [C, F + 1], data: weights },
    ]);
    writeFileAtomic(join(dir, 'terms.txt'), [Buffer.from(terms.join('\n') + '\n')]);
  }

  /** The analyzer is not in the folder: the hybrid's hybrid.json names it. */
  static load(dir: string, analyzer: Analyzer = 'word'): TfidfBaseline {
    for (const f of ['terms.txt', 'model.safetensors']) if (!existsSync(join(dir, f))) throw new Error(`${join(dir, f)} is missing: the hybrid's TF-IDF part is incomplete`);
    const terms = readFileSync(join(dir, 'terms.txt'), 'utf8').split('\n').slice(0, -1);
    const t = readSafetensors(join(dir, 'model.safetensors'));
    const idf = t.get('idf'), weights = t.get('weights');
    if (!idf || !weights || weights.shape.length !== 2 || weights.shape[1] !== terms.length + 1) {
      throw new Error(`${dir}: model.safetensors does not hold idf and weights [classes, ${terms.length + 1}] for the ${terms.length} terms`);
    }
    const model = new TfidfBaseline(TfidfVectorizer.restore(terms, idf.data, analyzer));
    const F1 = weights.shape[1];
    model.svm.weights = Array.from({ length: weights.shape[0] }, (_, c) => Float64Array.from(weights.data.subarray(c * F1, (c + 1) * F1)));
    return model;
  }
}
