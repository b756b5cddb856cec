import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { after, before, describe, it } from 'node:test';
import { loadModelDir } from '../src/model/model_dir';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { Classifier } from '../src/pipeline/classifier';
import { fitTemperature } from '../src/eval/calibration';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../src/serve/server';
import { makeVocab } from './fixtures';
import { sharedPath, skipUnlessShared } from './shared';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const cli = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
/** The CLI run without blocking the event loop (the stand-in hub answers from this process). */
const cliAsync = (args: string[], env: Record<string, string>) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
  const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let stdout = '', stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  p.on('close', (status) => resolve({ status, stdout, stderr }));
});
const COMMIT = 'b'.repeat(40);
const WORDS = ['red', 'green', 'blue', 'cat', 'dog', 'bird', 'big', 'small'];

const skip = skipUnlessShared('golden', 'bert', 'single', 'pytorch_model.bin');

describe('a BERT from a hub repo with only pytorch_model.bin, fine-tuned on text pairs (stand-in hub on loopback)', { skip }, () => {
  // The golden BERT (vocab 512, 2 layers, hidden 32, 5 labels) as a hub repo: config.json, pytorch_model.bin, vocab.txt.
  const golden = sharedPath('golden', 'bert', 'single');
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS];
  while (vocab.length < 512) vocab.push(`filler${vocab.length}`);
  const files = skip ? new Map<string, Buffer>() : new Map([
    ['config.json', readFileSync(join(golden, 'config.json'))],
    ['pytorch_model.bin', readFileSync(join(golden, 'pytorch_model.bin'))],
    ['vocab.txt', Buffer.from(vocab.join('\n') + '\n')],
  ]);
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const m = /^\/org\/bert-tiny\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    asked.push(m?.[1] ?? req.url ?? '');
    const body = m && files.get(m[1]);
    if (!body) return void res.writeHead(404).end();
    const etag = createHash('sha1').update(body).digest('hex');
    res.writeHead(200, { etag: `"${etag}"`, 'x-repo-commit': COMMIT, 'content-length': body.length }).end(body);
  });
  let env: Record<string, string> = {};
  const dir = mkdtempSync(join(tmpdir(), 'bert-pairs-'));
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    env = { HF_ENDPOINT: `http://127.0.0.1:${(server.address() as { port: number }).port}`, HF_HUB_CACHE: join(dir, 'cache') };
  });
  after(() => server.close());

  // Pairs whose label says whether the two texts name the same colour.
  const rows: string[] = ['premise,hypothesis,label'];
  for (let i = 0; i < 48; i++) {
    const a = WORDS[i % 3], b = WORDS[(i + (i % 2)) % 3];
    rows.push(`${a} ${WORDS[3 + (i % 3)]} ${WORDS[6 + (i % 2)]},${b} ${WORDS[3 + ((i + 1) % 3)]},${a === b ? 'same' : 'different'}`);
  }

  it('a hub classifier is used as it is: its labels from its config', async () => {
    const r = await cliAsync(['predict', '--model', 'org/bert-tiny', '--json', 'red cat'], env);
    assert.equal(r.status, 0, r.stderr);
    const labels = (JSON.parse(r.stdout) as { predictions: { label: string }[] }).predictions.map((p) => p.label).sort();
    assert.deepEqual(labels, ['LABEL_0', 'LABEL_1', 'LABEL_2', 'LABEL_3', 'LABEL_4']);
  });

  it('fine-tunes with AdamW, re-initializing the 5-label head for 2 labels, and predicts and serves pairs', async () => {
    const data = join(dir, 'pairs.csv');
    writeFileSync(data, rows.join('\n') + '\n');
    const out = join(dir, 'run');
    const r = await cliAsync(['train', '--init', 'org/bert-tiny', '--data', data, '--text-field', 'premise', '--text-pair-field', 'hypothesis',
      '--optimizer', 'adamw', '--lr', '2e-3', '--warmup-ratio', '0.1', '--weight-decay', '0.01', '--epochs', '3', '--batch-size', '8', '--max-length', '16',
      '--validation-fraction', '0.25', '--out', out, '--no-progress'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!asked.includes('model.safetensors') || asked.indexOf('pytorch_model.bin') > asked.indexOf('model.safetensors'), 'safetensors asked first, then the .bin');
    assert.ok(asked.includes('pytorch_model.bin'));
    assert.match(r.stderr, /not used from .*pytorch_model\.bin: classifier\.weight \(shape \[5,32\]\), classifier\.bias \(shape \[5\]\)/);
    assert.match(r.stderr, /initialized classifier\.weight, classifier\.bias/);
    const model = join(out, 'model');
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'bert');
    assert.equal(config.problem_type, 'single_label_classification');
    assert.deepEqual(config.id2label, { 0: 'different', 1: 'same' });
    assert.match(readFileSync(join(model, 'README.md'), 'utf8'), /A BERT sequence classifier/);

    // predict --jsonl: pairs in, the model's probabilities out, as an engine forward with the pair's token types gives them.
    const inputs = [{ text: 'red cat big', text_pair: 'red dog' }, { text: 'blue bird small', text_pair: 'green cat' }];
    const p = cli(['predict', '--model', model, '--jsonl', '--json', ...inputs.map((x) => JSON.stringify(x))]);
    assert.equal(p.status, 0, p.stderr);
    const predicted = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text_pair: string; predictions: { label: string; score: number }[] });
    assert.equal(predicted[0].text_pair, 'red dog');
    const loaded = loadModelDir(model);
    const net = new EncoderClassifier(loaded.config, loaded.params);
    inputs.forEach((x, i) => {
      const e = loaded.tokenizer.encodePair(x.text, x.text_pair, { maxLength: 16 });
      const n = e.ids.length;
      const z = net.forward(Int32Array.from(e.ids), new Int32Array(n).fill(1), 1, n, { grad: false, tokenTypes: Int32Array.from(e.typeIds!) });
      const zs = net.forward(Int32Array.from(e.ids), new Int32Array(n).fill(1), 1, n, { grad: false });
      const softmax = (v: Float32Array) => Array.from(v, (a) => Math.exp(a - Math.max(...v))).map((a, _, all) => a / all.reduce((s, b) => s + b, 0));
      const want = softmax(z);
      for (const q of predicted[i].predictions) assert.ok(Math.abs(q.score - want[loaded.config.id2label.indexOf(q.label)]) < 1e-6, `${q.label}: ${q.score} vs ${want}`);
      assert.notDeepEqual(Array.from(zs), Array.from(z), 'the token types reach the model');
    });

    // serve: the same pairs as {"text", "text_pair"} objects, next to a single text.
    const app = buildServer(Classifier.load(model), { ...DEFAULT_SERVER_OPTIONS, modelName: 'pairs' });
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/classify', payload: { texts: [...inputs, 'red cat'] } });
      assert.equal(res.statusCode, 200, res.body);
      const served = res.json().results as { predictions: { label: string; score: number }[] }[];
      assert.equal(served.length, 3);
      for (let i = 0; i < 2; i++) for (const q of served[i].predictions) assert.ok(Math.abs(q.score - predicted[i].predictions.find((x) => x.label === q.label)!.score) < 1e-9);
      const bad = await app.inject({ method: 'POST', url: '/v1/classify', payload: { texts: [{ text: 'red', pair: 'x' }] } });
      assert.equal(bad.statusCode, 400);
    } finally {
      await app.close();
    }

    // The ONNX export takes token_type_ids: ONNX Runtime gives the engine's logits for the pairs.
    const onnxDir = exportModel(model);
    const session = await ort.InferenceSession.create(join(onnxDir, 'onnx', 'model.onnx'));
    assert.deepEqual([...session.inputNames].sort(), ['attention_mask', 'input_ids', 'token_type_ids']);
    assert.equal(JSON.parse(readFileSync(join(onnxDir, 'tokenizer_config.json'), 'utf8')).tokenizer_class, 'BertTokenizer');
    for (const x of inputs) {
      const e = loaded.tokenizer.encodePair(x.text, x.text_pair, { maxLength: 16 });
      const n = e.ids.length;
      const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, n]);
      const outp = await session.run({ input_ids: t(e.ids), attention_mask: t(new Array(n).fill(1)), token_type_ids: t(e.typeIds!) });
      const want = net.forward(Int32Array.from(e.ids), new Int32Array(n).fill(1), 1, n, { grad: false, tokenTypes: Int32Array.from(e.typeIds!) });
      const got = outp.logits.data as Float32Array;
      want.forEach((v, c) => assert.ok(Math.abs(v - got[c]) < 1e-4, `ONNX logit ${c}: ${got[c]} vs ${v}`));
    }
  });
});

describe('a BertForMaskedLM checkpoint starts a classifier', { skip }, () => {
  it('loads the body, initializes the pooler and the classifier, and says which tensors it did not use', () => {
    const golden = sharedPath('golden', 'bert', 'single');
    const dir = mkdtempSync(join(tmpdir(), 'bert-mlm-'));
    const config = JSON.parse(readFileSync(join(golden, 'config.json'), 'utf8'));
    delete config.id2label;
    delete config.label2id;
    delete config.problem_type;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['BertForMaskedLM'] }));
    const tensors = [...readSafetensors(join(golden, 'model.safetensors'))]
      .filter(([n]) => !n.startsWith('bert.pooler') && !n.startsWith('classifier'))
      .map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
    tensors.push({ name: 'cls.predictions.bias', shape: [512], data: new Float32Array(512) });
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS];
    while (vocab.length < 512) vocab.push(`filler${vocab.length}`);
    writeFileSync(join(dir, 'vocab.txt'), vocab.join('\n') + '\n');
    const data = join(dir, 'colours.csv');
    writeFileSync(data, 'text,label\n' + Array.from({ length: 16 }, (_, i) => `${WORDS[i % 3]} ${WORDS[3 + (i % 3)]},${WORDS[i % 3]}`).join('\n') + '\n');
    const r = cli(['train', '--init', dir, '--data', data, '--epochs', '1', '--batch-size', '4', '--max-length', '8', '--lr', '1e-3', '--validation-fraction', '0.25', '--out', join(dir, 'run'), '--no-progress']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /not used from .*model\.safetensors: cls\.predictions\.bias/);
    assert.match(r.stderr, /initialized bert\.pooler\.dense\.weight, bert\.pooler\.dense\.bias, classifier\.weight, classifier\.bias/);
    const trained = readSafetensors(join(dir, 'run', 'model', 'model.safetensors'));
    assert.equal(trained.get('classifier.weight')!.shape.join(), '3,32');
    const pre = cli(['pretrain', '--init', dir, '--data', data, '--out', join(dir, 'pretrain')]);
    assert.equal(pre.status, 1);
    assert.match(pre.stderr, /config\.json: model_type bert: masked-LM pretraining runs DistilBERT only/);
    assert.equal(existsSync(join(dir, 'pretrain', 'run.json')), false);
  });
});

function exportModel(model: string): string {
  const out = join(mkdtempSync(join(tmpdir(), 'onnx-')), 'export');
  const r = cli(['export', '--model', model, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  return out;
}

/** transformers.js on an export of ours: the text-classification pipeline, and the raw logits of AutoModelForSequenceClassification. */
async function transformersJs(dir: string, texts: string[]): Promise<{ pipeline: { label: string; score: number }[][]; logits: number[][] }> {
  const { pipeline, env, AutoModelForSequenceClassification, AutoTokenizer } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = dirname(dir);
  const classify = await pipeline('text-classification', basename(dir), { dtype: 'fp32' });
  const ranked = (await classify(texts, { top_k: null })) as unknown as { label: string; score: number }[][];
  await classify.dispose();
  const tokenizer = await AutoTokenizer.from_pretrained(basename(dir));
  const net = await AutoModelForSequenceClassification.from_pretrained(basename(dir), { dtype: 'fp32' });
  const logits: number[][] = [];
  for (const t of texts) {
    const { logits: z } = await net(tokenizer(t));
    logits.push(Array.from(z.data as Float32Array));
  }
  await net.dispose();
  return { pipeline: ranked, logits };
}

describe('multi-label and regression data: train, evaluate, predict, serve', () => {
  const vocabPath = makeVocab();
  const dir = mkdtempSync(join(tmpdir(), 'tasks-'));
  // Fixture words: god -> religion, engine -> cars, orbit -> space; a text names any of them.
  const topics: [string, string][] = [['god', 'religion'], ['engine', 'cars'], ['orbit', 'space']];
  const filler = ['the', 'a', 'is', 'and', 'of', 'to'];
  const texts = Array.from({ length: 64 }, (_, i) => {
    const chosen = topics.filter((_, k) => ((i + 1) >> k) & 1);
    const words = [...chosen.map(([w]) => w), ...filler.slice(0, 2 + (i % 4))];
    return { text: words.join(' '), tags: chosen.map(([, t]) => t), count: chosen.length };
  });
  const common = ['--init', 'scratch', '--vocab', vocabPath, '--preset', 'small', '--layers', '1', '--dim', '32', '--heads', '2', '--ffn', '64',
    '--max-length', '16', '--batch-size', '8', '--validation-fraction', '0.25', '--no-progress'];

  it('multi-label JSONL: sigmoid scores, labels over the threshold, F1 as computed from the predictions', async () => {
    const data = join(dir, 'tags.jsonl');
    writeFileSync(data, texts.map((t) => JSON.stringify({ text: t.text, tags: t.tags })).join('\n') + '\n');
    const out = join(dir, 'multi');
    const r = cli(['train', ...common, '--data', data, '--label-field', 'tags', '--problem-type', 'multi_label_classification', '--epochs', '150', '--lr', '3e-3',
      '--dropout', '0', '--attention-dropout', '0', '--classifier-dropout', '0', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const model = join(out, 'model');
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    assert.equal(config.problem_type, 'multi_label_classification');
    assert.deepEqual(Object.values(config.id2label), ['cars', 'religion', 'space']);
    const report = join(dir, 'multi-report');
    const e = cli(['evaluate', '--model', model, '--data', data, '--label-field', 'tags', '--validation-fraction', '0.25', '--out', report, '--json']);
    assert.equal(e.status, 0, e.stderr);
    const got = JSON.parse(e.stdout);
    assert.equal(got.problem_type, 'multi_label_classification');
    // Every text through predict: the labels over 0.5 and the subset accuracy counted here.
    const p = cli(['predict', '--model', model, '--json', ...texts.map((t) => t.text)]);
    assert.equal(p.status, 0, p.stderr);
    const rows = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { labels: string[]; predictions: { label: string; score: number }[] });
    rows.forEach((row) => {
      assert.deepEqual(row.labels, row.predictions.filter((q) => q.score > 0.5).map((q) => q.label));
      assert.ok(row.predictions.every((q) => q.score > 0 && q.score < 1));
    });
    const right = rows.filter((row, i) => [...row.labels].sort().join() === [...texts[i].tags].sort().join()).length;
    assert.ok(right / rows.length > 0.9, `subset accuracy over all texts ${right / rows.length}: the tags follow the words`);
    assert.ok(got.micro_f1 > 0.8 && got.micro_f1 <= 1, `micro F1 ${got.micro_f1}`);
    const html = readFileSync(join(report, 'report.html'), 'utf8');
    assert.match(html, /<table id="per-label">/);

    // transformers.js applies sigmoid to a multi_label_classification export: its pipeline gives our scores.
    const some = texts.slice(0, 6).map((t) => t.text);
    const js = await transformersJs(exportModel(model), some);
    js.pipeline.forEach((ranked, i) => {
      assert.equal(ranked.length, 3);
      for (const q of ranked) assert.ok(Math.abs(q.score - rows[i].predictions.find((x) => x.label === q.label)!.score) < 1e-4, `${q.label}: ${q.score}`);
    });

    const app = buildServer(Classifier.load(model), { ...DEFAULT_SERVER_OPTIONS, modelName: 'tags', threshold: 0.5 });
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/classify', payload: { texts: ['god orbit the a'] } });
      assert.equal(res.statusCode, 200, res.body);
      const result = res.json().results[0];
      assert.deepEqual([...result.labels].sort(), ['religion', 'space']);
    } finally {
      await app.close();
    }
  });

  it('regression CSV: one value, RMSE as computed from the predictions, a scatter plot in the report', async () => {
    const data = join(dir, 'counts.csv');
    writeFileSync(data, 'text,score\n' + texts.map((t) => `"${t.text}",${t.count}`).join('\n') + '\n');
    const out = join(dir, 'regression');
    const r = cli(['train', ...common, '--data', data, '--label-field', 'score', '--problem-type', 'regression', '--epochs', '25', '--lr', '3e-3', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const model = join(out, 'model');
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
    assert.equal(config.problem_type, 'regression');
    assert.deepEqual(config.id2label, { 0: 'score' });
    const report = join(dir, 'regression-report');
    const e = cli(['evaluate', '--model', model, '--data', data, '--label-field', 'score', '--validation-fraction', '0.25', '--out', report, '--json']);
    assert.equal(e.status, 0, e.stderr);
    const got = JSON.parse(e.stdout);
    const p = cli(['predict', '--model', model, '--json', ...texts.map((t) => t.text)]);
    assert.equal(p.status, 0, p.stderr);
    const values = p.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { value: number }).value);
    const rmseAll = Math.sqrt(values.reduce((s, v, i) => s + (v - texts[i].count) ** 2, 0) / values.length);
    assert.ok(rmseAll < 0.35, `RMSE over all texts ${rmseAll}: the value is the count of topic words`);
    assert.ok(got.rmse > 0 && got.rmse < 0.5 && got.pearson > 0.9, JSON.stringify(got));
    const html = readFileSync(join(report, 'report.html'), 'utf8');
    assert.equal((html.match(/<circle /g) ?? []).length, got.count, 'one point per validation text');
    assert.ok(existsSync(join(report, 'report.json')));

    // transformers.js's pipeline would softmax the one output: its raw logits are the value.
    const some = texts.slice(0, 6).map((t) => t.text);
    const js = await transformersJs(exportModel(model), some);
    js.logits.forEach((z, i) => assert.ok(Math.abs(z[0] - values[i]) < 1e-4, `${z[0]} vs ${values[i]}`));
  });

  it('text pairs with a temperature: fitted on the validation pairs as the model reads them', () => {
    const words = ['god', 'engine', 'orbit'];
    // The label is in the second text alone: a reading without it is at chance.
    const row = (i: number) => `${words[i % 3]} the a,${words[(i + 1 + (i % 2)) % 3]} is,${words[(i + 1 + (i % 2)) % 3] === 'god' ? 'yes' : 'no'}`;
    const train = join(dir, 'pairs-train.csv'), val = join(dir, 'pairs-val.csv');
    writeFileSync(train, 'a,b,label\n' + Array.from({ length: 32 }, (_, i) => row(i)).join('\n') + '\n');
    writeFileSync(val, 'a,b,label\n' + Array.from({ length: 12 }, (_, i) => row(i + 5)).join('\n') + '\n');
    const out = join(dir, 'pairs-cal');
    const r = cli(['train', ...common.filter((x) => x !== '--validation-fraction' && x !== '0.25'), '--data', train, '--validation-data', val, '--text-field', 'a', '--text-pair-field', 'b',
      '--epochs', '30', '--lr', '3e-3', '--dropout', '0', '--attention-dropout', '0', '--classifier-dropout', '0', '--calibrate-on-validation', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const model = join(out, 'model');
    const T = JSON.parse(readFileSync(join(model, 'calibration.json'), 'utf8')).temperature.transformer as number;
    const loaded = loadModelDir(model);
    const plain = new Classifier({ model: new EncoderClassifier(loaded.config, loaded.params), tokenizer: loaded.tokenizer, labels: loaded.config.id2label, maxLength: 16 });
    const lines = readFileSync(val, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const logits = plain.probabilities(lines.map(([a, b]) => ({ text: a, textPair: b }))).raw.transformer;
    const labels = Int32Array.from(lines, ([, , l]) => loaded.config.id2label.indexOf(l));
    assert.ok(T > 0.05 && T < 20, `an interior temperature: ${T}`);
    assert.ok(Math.abs(T - fitTemperature(logits, labels, 2)) < 1e-9, `temperature ${T}`);
  });

  it('refuses what a task cannot do, in one line', () => {
    const data = join(dir, 'tags.jsonl');
    const r = cli(['train', ...common, '--data', data, '--label-field', 'tags', '--problem-type', 'multi_label_classification', '--hybrid', '--out', join(dir, 'x')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--hybrid fuses TF-IDF parts with a single-label classifier of single texts: it cannot train on multi_label_classification data/);
    assert.equal(existsSync(join(dir, 'x', 'run.json')), false, 'nothing written');
    const csv = join(dir, 'bad.csv');
    writeFileSync(csv, 'text,score\nthe god,high\n');
    const b = cli(['train', ...common, '--data', csv, '--label-field', 'score', '--problem-type', 'regression', '--out', join(dir, 'y')]);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /bad\.csv:2: "score" must be a finite number \(regression\), got "high"/);
    const base = cli(['baseline', '--data', data, '--label-field', 'tags', '--problem-type', 'multi_label_classification']);
    assert.equal(base.status, 1);
    assert.match(base.stderr, /this command reads single texts with one label each, not multi_label_classification data/);
  });
});
