import { LinearSvm } from './linear_svm';
import { TfidfVectorizer } from './tfidf';

/** The classical baseline: TF-IDF (uni+bigrams, sublinear tf) + one-vs-rest linear SVM. */
export class TfidfBaseline {
  readonly vectorizer = new TfidfVectorizer();
  readonly svm = new LinearSvm({ C: 1, tol: 0.1, maxIter: 1000, seed: 0 });

  fit(texts: string[], labels: Int32Array, classes: number): this {
    this.svm.fit(this.vectorizer.fit(texts).transform(texts), labels, classes);
    return this;
  }

  predict(texts: string[]): Int32Array {
    return this.svm.predict(this.vectorizer.transform(texts));
  }
}
