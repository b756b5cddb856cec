import { Command } from 'commander';
import { computeMetrics, formatMetrics, metricsJson } from '../eval/metrics';
import { calibrationStats, withTemperature } from '../eval/calibration';
import { CalibrationReport, writeReport } from '../eval/report';
import { configToJson } from '../model/config';
import { ensureWritableDir } from '../io/atomic';
import { resolveModel } from '../io/hub';
import { loadModelDir } from '../model/model_dir';
import { Classifier } from '../pipeline/classifier';
import { topWords as wordsOfLabels } from '../pipeline/explain';
import { partName } from '../hybrid/hybrid';
import { argmaxRows } from '../maths/rows';
import { runBaseline } from './baseline';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, floatOption, intOption } from './common';
import { addDataOptions, DataOptions, loadSplit, loadSplitTexts } from './data_options';
import { formatMultiLabel, formatRegression, multiLabelJson, multiLabelMetrics, regressionJson, regressionMetrics } from '../eval/task_metrics';
import { writeTaskReport } from '../eval/task_report';
import { TextInput } from '../pipeline/classifier';

interface EvaluateOptions extends DataOptions, DeviceOptions {
  model: string;
  out?: string;
  baseline?: boolean;
  json?: boolean;
  threads?: number;
  maxLength?: number;
  batchSize: number;
  topWords: number;
  threshold: number;
}

/**
 * Evaluation of a multi-label or regression model, or of one on text pairs: micro/macro F1, subset
 * accuracy and a per-label table; or RMSE, MAE, Pearson and Spearman with a scatter plot.
 */
async function evaluateTask(o: EvaluateOptions, classifier: Classifier, modelConfig: Record<string, unknown>): Promise<void> {
  if (o.baseline) throw new Error('--baseline trains the TF-IDF baseline on single texts with one label each: drop it for this data');
  const { split } = await loadSplit({ ...o, problemType: classifier.problemType });
  const posts = split.test;
  const inputs: TextInput[] = posts.map((p) => (p.pair !== undefined ? { text: p.text, textPair: p.pair } : p.text));
  const t0 = Date.now();
  const { probs } = classifier.probabilities(inputs, o.batchSize);
  const seconds = (Date.now() - t0) / 1000;
  const C = classifier.labels.length;
  const title = `Evaluation of ${o.model}`;
  let text: string, json: Record<string, unknown>;
  if (classifier.problemType === 'regression') {
    const truth = Float64Array.from(posts, (p) => p.value!);
    const metrics = regressionMetrics(truth, probs);
    if (o.out) writeTaskReport(o.out, { title, split: split.description, seconds, modelConfig, regression: { metrics, truth, predicted: probs } });
    text = formatRegression(metrics, `model ${o.model} (${seconds.toFixed(1)} s)`);
    json = regressionJson(metrics);
  } else if (classifier.problemType === 'multi_label_classification') {
    const index = new Map(classifier.labels.map((l, i) => [l, i]));
    const targets = new Float64Array(posts.length * C);
    posts.forEach((p, r) => (p.groups ?? []).forEach((l) => {
      const c = index.get(l);
      if (c === undefined) throw new Error(`${p.path}: label ${JSON.stringify(l)} is not one of the model's labels`);
      targets[r * C + c] = 1;
    }));
    const metrics = multiLabelMetrics(targets, probs, classifier.labels, o.threshold);
    if (o.out) writeTaskReport(o.out, { title, split: split.description, seconds, modelConfig, multiLabel: metrics });
    text = formatMultiLabel(metrics, `model ${o.model} (${seconds.toFixed(1)} s)`);
    json = multiLabelJson(metrics);
  } else {
    const index = new Map(classifier.labels.map((l, i) => [l, i]));
    const truth = Int32Array.from(posts, (p) => {
      const c = index.get(p.group);
      if (c === undefined) throw new Error(`${p.path}: label ${JSON.stringify(p.group)} is not one of the model's labels`);
      return c;
    });
    const metrics = computeMetrics(truth, argmaxRows(probs, C), classifier.labels);
    if (o.out) writeReport(o.out, { title, systems: [{ name: `model ${o.model}`, metrics, seconds }], labels: classifier.labels, split: split.description, modelConfig });
    text = formatMetrics(metrics, `model ${o.model} (${seconds.toFixed(1)} s)`);
    json = metricsJson(metrics);
  }
  if (o.json) return void process.stdout.write(JSON.stringify({ model: o.model, split: split.description, problem_type: classifier.problemType, seconds, ...json }) + '\n');
  process.stdout.write([split.description, text, ...(o.out ? [`report: ${o.out}/report.html, ${o.out}/report.json`] : [])].join('\n\n') + '\n');
}

/** Maps data label ids to model label ids: by name, or by position when the model has generic names. */
function labelMap(dataLabels: string[], modelLabels: string[]): number[] {
  const byName = new Map(modelLabels.map((l, i) => [l, i]));
  if (dataLabels.every((l) => byName.has(l))) return dataLabels.map((l) => byName.get(l)!);
  if (modelLabels.length === dataLabels.length) {
    process.stderr.write(`note: the model's labels (${modelLabels[0]}, ...) are not group names; taking them in alphabetical group order\n`);
    return dataLabels.map((_, i) => i);
  }
  const some = (labels: string[]) => labels.slice(0, 5).join(', ') + (labels.length > 5 ? `, ... (${labels.length})` : '');
  const missing = dataLabels.filter((l) => !byName.has(l));
  throw new Error(`the data's labels (${some(dataLabels)}) are not the model's (${some(modelLabels)}): ${some(missing)} ${missing.length === 1 ? 'is' : 'are'} not among them`);
}

/** The transformer's (and a hybrid's fused) calibration on the evaluated texts, before and after the folder's temperatures. */
function calibrationReports(classifier: Classifier, raw: { transformer: Float64Array; hybrid?: Float64Array }, truth: Int32Array): CalibrationReport[] {
  const C = classifier.labels.length, cal = classifier.calibration;
  const report = (name: string, z: Float64Array, T: number | undefined): CalibrationReport => ({
    name, before: calibrationStats(withTemperature(z, C, 1), truth, C),
    ...(T !== undefined ? { after: calibrationStats(withTemperature(z, C, T), truth, C), temperature: T, fittedOn: cal!.fittedOn } : {}),
  });
  const out = [report(raw.hybrid ? 'transformer' : 'model', raw.transformer, cal?.transformer)];
  if (raw.hybrid) out.push(report('hybrid', raw.hybrid, cal?.hybrid));
  return out;
}

export function evaluateCommand(): Command {
  return addDeviceOptions(addDataOptions(new Command('evaluate')))
    .description('accuracy, macro-F1 and per-class table of a model on a split (multi-label: micro/macro F1, subset accuracy, per label; regression: RMSE, MAE, Pearson, Spearman); report.json + report.html with --out')
    .requiredOption('--model <dir>', 'model folder')
    .option('--out <dir>', 'write report.json and report.html (confusion matrix, per-class bars) here')
    .option('--baseline', 'also train the TF-IDF baseline on the same split and compare')
    .option('--json', 'print one JSON object: accuracy, macro_f1, per_class, confusion (and baseline)')
    .option('--max-length <n>', 'tokens per text, [CLS] and [SEP] included (default: the model\'s model_max_length)', intOption(2))
    .option('--threads <n>', 'CPU threads', intOption(1))
    .option('--batch-size <n>', 'texts per forward pass', intOption(1), 32)
    .option('--threshold <p>', 'multi-label: a label is chosen when its sigmoid is over this', floatOption(0, 1), 0.5)
    .option('--top-words <n>', 'with --out: list in report.html the n words with the largest summed gradient x input per label over its correctly classified texts (0: none)', intOption(0), 15)
    .action(async (o: EvaluateOptions) => {
      applyThreads(o.threads);
      if (o.out) ensureWritableDir(o.out);  // before the work, not after it
      const loaded = loadModelDir(await resolveModel(o.model, '--model <folder>', o.revision));
      // The classifier applies the model's strip rules itself: the texts come as the data has them.
      const classifier = Classifier.load(loaded, { maxLength: o.maxLength, device: deviceChoice(o), strip: o.strip });
      // The data is read as what the model predicts, unless --problem-type says otherwise.
      const problemType = o.problemType ?? classifier.problemType;
      if (problemType !== classifier.problemType) throw new Error(`--problem-type ${problemType}: the model is ${classifier.problemType}`);
      if (problemType !== 'single_label_classification' || o.textPairField !== undefined) return evaluateTask(o, classifier, configToJson(loaded.config));
      const d = await loadSplitTexts(o, []);
      const map = labelMap(d.labels, loaded.config.id2label);
      const t0 = Date.now();
      const { probs, parts, raw } = classifier.probabilities(d.test.texts, o.batchSize);
      const C = classifier.labels.length;
      const truth = Int32Array.from(d.test.labels, (l) => map[l]);
      const score = (p: ArrayLike<number>) => computeMetrics(truth, argmaxRows(p, C), classifier.labels);
      const metrics = score(probs);
      const systems = [{ name: `${parts ? 'hybrid ' : 'model '}${o.model}`, metrics, seconds: (Date.now() - t0) / 1000 }];
      // A hybrid's parts side by side: the transformer alone and each TF-IDF part alone.
      const hybridParts = classifier.hybrid?.spec.parts ?? [];
      if (parts) {
        systems.push({ name: 'its transformer alone', metrics: score(parts.transformer), seconds: systems[0].seconds });
        parts.tfidf.forEach((s, k) => systems.push({ name: `its TF-IDF ${partName(hybridParts[k].analyzers)} part alone`, metrics: score(s), seconds: systems[0].seconds }));
      }
      if (o.baseline) {
        const b = runBaseline({ ...d, train: { ...d.train, texts: d.train.texts.map((t) => classifier.preprocess(t)) }, test: { ...d.test, texts: d.test.texts.map((t) => classifier.preprocess(t)) } });
        // In the model's label order, so both systems share one table.
        systems.push({ name: 'TF-IDF + linear SVM', metrics: computeMetrics(truth, Int32Array.from(b.predictions, (l) => map[l]), classifier.labels), seconds: b.seconds });
      }
      const calibration = calibrationReports(classifier, raw, truth);
      if (o.out) {
        const predicted = argmaxRows(probs, C);
        const correct = d.test.texts.map((_, i) => i).filter((i) => predicted[i] === truth[i]);
        const topWords = o.topWords > 0 ? wordsOfLabels(classifier, correct.map((i) => d.test.texts[i]), correct.map((i) => truth[i]), o.topWords) : undefined;
        writeReport(o.out, { title: `Evaluation of ${o.model}`, systems, labels: classifier.labels, split: d.split.description, modelConfig: configToJson(loaded.config), calibration, topWords });
      }
      if (o.json) {
        const out: Record<string, unknown> = { model: o.model, split: d.split.description, seconds: systems[0].seconds, ...metricsJson(metrics) };
        if (parts) {
          out.hybrid = {
            transformer: metricsJson(systems[1].metrics),
            parts: hybridParts.map((p, k) => ({ part: partName(p.analyzers), lambda: p.lambda, ...metricsJson(systems[2 + k].metrics) })),
          };
        }
        if (o.baseline) out.baseline = { system: 'tfidf-linear-svm', seconds: systems.at(-1)!.seconds, ...metricsJson(systems.at(-1)!.metrics) };
        out.calibration = calibration.map((c) => ({ system: c.name, temperature: c.temperature, before: { ece: c.before.ece, nll: c.before.nll }, after: c.after && { ece: c.after.ece, nll: c.after.nll } }));
        process.stdout.write(JSON.stringify(out) + '\n');
        return;
      }
      const text = [d.split.description, formatMetrics(metrics, `${systems[0].name} (${systems[0].seconds.toFixed(1)} s)`)];
      if (o.baseline) {
        const b = systems.at(-1)!;
        text.push(formatMetrics(b.metrics, `TF-IDF + linear SVM baseline (${b.seconds.toFixed(1)} s)`));
      }
      text.push(calibration.map((c) => `calibration of ${c.name}: ECE ${c.before.ece.toFixed(4)}, NLL ${c.before.nll.toFixed(4)}` +
        (c.after ? ` before the temperature ${c.temperature!.toFixed(3)}, ECE ${c.after.ece.toFixed(4)}, NLL ${c.after.nll.toFixed(4)} after (fitted on ${c.fittedOn})` : ' (no temperature in the model folder)')).join('\n'));
      if (systems.length > 1) text.push('side by side: ' + systems.map((x) => `${x.name}: accuracy ${x.metrics.accuracy.toFixed(4)}, macro-F1 ${x.metrics.macroF1.toFixed(4)}`).join('; '));
      if (o.out) text.push(`report: ${o.out}/report.html, ${o.out}/report.json`);
      process.stdout.write(text.join('\n\n') + '\n');
    });
}
