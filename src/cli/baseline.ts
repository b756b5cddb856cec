import { Command } from 'commander';
import { TfidfBaseline } from '../baseline/baseline';
import { computeMetrics, formatMetrics, Metrics, metricsJson } from '../eval/metrics';
import { addDataOptions, DataOptions, loadSplitTexts, SplitTexts } from './data_options';

/** Trains the TF-IDF + linear SVM baseline on the split's training side and scores its test side. */
export function runBaseline(d: SplitTexts): { predictions: Int32Array; metrics: Metrics; seconds: number; features: number } {
  const t0 = Date.now();
  const model = new TfidfBaseline().fit(d.train.texts, d.train.labels, d.labels.length);
  const predictions = model.predict(d.test.texts);
  const seconds = (Date.now() - t0) / 1000;
  return { predictions, metrics: computeMetrics(d.test.labels, predictions, d.labels), seconds, features: model.features };
}

export function baselineCommand(): Command {
  return addDataOptions(new Command('baseline'))
    .description('train and evaluate a TF-IDF (unigrams + bigrams, sublinear tf) + linear SVM classifier on a split')
    .option('--json', 'print one JSON object: accuracy, macro_f1, per_class, confusion, seconds')
    .action(async (o: DataOptions & { json?: boolean }) => {
      const d = await loadSplitTexts(o, o.strip ?? []);
      const r = runBaseline(d);
      if (o.json) {
        process.stdout.write(JSON.stringify({ system: 'tfidf-linear-svm', split: d.split.description, seconds: r.seconds, features: r.features, ...metricsJson(r.metrics) }) + '\n');
        return;
      }
      process.stdout.write(`${d.split.description}\n${formatMetrics(r.metrics, `TF-IDF + linear SVM (${r.features} features, trained and evaluated in ${r.seconds.toFixed(1)} s)`)}\n`);
    });
}
