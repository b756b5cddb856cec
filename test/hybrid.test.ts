import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sideBySide, TfidfBaseline } from '../src/baseline/baseline';
import { analyzeCharWb, TfidfVectorizer } from '../src/baseline/tfidf';
import { chooseLambdas, fuse, Hybrid } from '../src/hybrid/hybrid';
import { fusionSlice } from '../src/hybrid_build/build';
import { loadModelDir } from '../src/model/model_dir';
import { Classifier } from '../src/pipeline/classifier';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { softmaxRows } from '../src/maths/rows';
import { predictLogits } from '../src/model/inference';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../src/serve/server';
import { makeModelDir, makeNewsgroupsFolder, makeVocab } from './fixtures';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('late fusion', () => {
  it('is softmax(log p + sum_k lambda_k * s_k), worked by hand', () => {
    // Row: p = (0.5, 0.25, 0.25), s = (0, 1, -1), lambda 2: scores ln .5, ln .25 + 2, ln .25 - 2
    // -> weights .5, .25 e^2, .25 e^-2 over their sum.
    const w = [0.5, 0.25 * Math.exp(2), 0.25 * Math.exp(-2)];
    const z = w[0] + w[1] + w[2];
    const got = fuse(Float64Array.from([0.5, 0.25, 0.25]), [Float64Array.from([0, 1, -1])], [2], 3);
    w.forEach((x, i) => assert.ok(Math.abs(got[i] - x / z) < 1e-12));
    assert.deepEqual([...fuse(Float64Array.from([0.7, 0.3]), [Float64Array.from([5, -5])], [0], 2)].map((x) => +x.toFixed(12)), [0.7, 0.3], 'lambda 0: the transformer alone');
    // Two parts: p = (0.5, 0.5), s1 = (1, 0) at lambda 1, s2 = (0, 3) at lambda 0.5 -> e^1 : e^1.5.
    const two = fuse(Float64Array.from([0.5, 0.5]), [Float64Array.from([1, 0]), Float64Array.from([0, 3])], [1, 0.5], 2);
    assert.ok(Math.abs(two[0] - Math.E / (Math.E + Math.exp(1.5))) < 1e-12, `${two[0]}`);
  });

  it('chooses the weight by held-out accuracy: each part right where the other is wrong', () => {
    // Three texts, two classes. The transformer is right on 0 and 1, barely wrong on 2; the SVM is
    // right on 2 and 0, slightly wrong on 1. Some lambda gets all three.
    const p = Float64Array.from([0.9, 0.1, 0.2, 0.8, 0.55, 0.45]);
    const s = Float64Array.from([0.5, -0.5, 0.01, -0.01, -0.5, 0.5]);
    const labels = Int32Array.from([0, 1, 1]);
    const c = chooseLambdas(p, [s], labels, 2);
    assert.deepEqual(c.accuracy, { transformer: 2 / 3, parts: [2 / 3], hybrid: 1 });
    // log(.55/.45) = 0.2007 must be overcome on text 2 (lambda > 0.2), log(.8/.2) = 1.386 kept on text 1 (lambda < 69).
    assert.ok(c.lambdas[0] > 0.2 && c.lambdas[0] < 69, `lambda ${c.lambdas[0]}`);
  });

  it('chooses both weights when each part mends a different text', () => {
    // The transformer is right on text 0 only, wrong by log(.55/.45) = 0.2007 on texts 1 and 2.
    // Part A speaks only on text 1, part B only on text 2 (zeros elsewhere): both lambdas above 0.2.
    const p = Float64Array.from([0.9, 0.1, 0.55, 0.45, 0.55, 0.45]);
    const a = Float64Array.from([0, 0, -0.5, 0.5, 0, 0]);
    const b = Float64Array.from([0, 0, 0, 0, -0.5, 0.5]);
    const c = chooseLambdas(p, [a, b], Int32Array.from([0, 1, 1]), 2);
    assert.equal(c.accuracy.hybrid, 1);
    assert.ok(c.lambdas.every((l) => l > 0.2), `lambdas ${c.lambdas}`);
  });

  it('char_wb n-grams are scikit-learn\'s: 3- to 5-grams of space-padded lowercased words, a short word once', () => {
    // ' ab ' (4 chars): ' ab', 'ab ' for n = 3, then itself for n = 4, and no n = 5.
    // ' cdef ' (6): four 3-grams, three 4-grams, two 5-grams. ' x ' (3): itself, once.
    assert.deepEqual(analyzeCharWb('Ab \t\n cDEF x'), [' ab', 'ab ', ' ab ', ' cd', 'cde', 'def', 'ef ', ' cde', 'cdef', 'def ', ' cdef', 'cdef ', ' x ']);
    assert.deepEqual(analyzeCharWb('  '), []);
  });

  it('the held-out slice is seeded and disjoint from the rest', () => {
    const posts = Array.from({ length: 40 }, (_, i) => ({ path: `p${i}`, split: 'train' as const, group: 'g', text: `t${i}` }));
    const a = fusionSlice(posts, 0.1, 7);
    assert.equal(a.slice.length, 4);
    assert.equal(a.fit.length + a.slice.length, 40);
    assert.ok(a.slice.every((p) => !a.fit.includes(p)));
    assert.deepEqual(fusionSlice(posts, 0.1, 7).slice, a.slice);
    assert.notDeepEqual(fusionSlice(posts, 0.1, 8).slice, a.slice);
  });

  it('a saved TF-IDF part scores as the fitted one', () => {
    const texts = ['the god of the orbit', 'pixel engine and the', 'orbit orbit god', 'engine pixel pixel'];
    const labels = Int32Array.from([0, 1, 0, 1]);
    const m = new TfidfBaseline().fit(texts, labels, 2);
    const dir = mkdtempSync(join(tmpdir(), 'tfidf-'));
    m.save(dir);
    const back = TfidfBaseline.load(dir);
    const a = m.scores(['god pixel orbit', 'engine']), b = back.scores(['god pixel orbit', 'engine']);
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-6, `${x} vs ${b[i]}`));
  });

  it('side by side: each block\'s columns shifted past the ones before, values scaled by 1/sqrt(blocks), worked by hand', () => {
    // Block A (2 x 2): row 0 = (0.6, 0.8), row 1 = (0, 1). Block B (2 x 3): row 0 = (0, 0, 1), row 1 empty.
    const A = { rows: 2, cols: 2, indptr: Int32Array.from([0, 2, 3]), indices: Int32Array.from([0, 1, 1]), values: Float32Array.from([0.6, 0.8, 1]) };
    const B = { rows: 2, cols: 3, indptr: Int32Array.from([0, 1, 1]), indices: Int32Array.from([2]), values: Float32Array.from([1]) };
    const m = sideBySide([A, B]);
    const h = Math.SQRT1_2;
    assert.equal(m.cols, 5);
    assert.deepEqual([...m.indptr], [0, 3, 4]);
    assert.deepEqual([...m.indices], [0, 1, 4, 1]);
    [0.6 * h, 0.8 * h, h, h].forEach((v, i) => assert.ok(Math.abs(m.values[i] - v) < 1e-7, `${m.values[i]} vs ${v}`));
    assert.equal(sideBySide([A]), A, 'one block is left as it is');
  });

  it('a part of two analyzers: unit-norm rows, and saved it scores as the fitted one', () => {
    const texts = ['the god of the orbit', 'pixel engine and the', 'orbit orbit god', 'engine pixel pixel'];
    const m = new TfidfBaseline([new TfidfVectorizer(1, 'word'), new TfidfVectorizer(1, 'char_wb')], 4).fit(texts, Int32Array.from([0, 1, 0, 1]), 2);
    assert.equal(m.features, m.vectorizers[0].features + m.vectorizers[1].features);
    // Each block's row has unit norm, so a side-by-side row of two has (1/2 + 1/2) = 1.
    const X = sideBySide(m.vectorizers.map((v) => v.transform(['god pixel orbit', 'engine'])));
    for (let r = 0; r < X.rows; r++) {
      let sq = 0;
      for (let k = X.indptr[r]; k < X.indptr[r + 1]; k++) sq += X.values[k] ** 2;
      assert.ok(Math.abs(sq - 1) < 1e-6, `row ${r}: ${sq}`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'tfidf-union-'));
    m.save(dir);
    assert.deepEqual(readdirSync(dir).sort(), ['model.safetensors', 'terms-char_wb.txt', 'terms-word.txt']);
    const back = TfidfBaseline.load(dir, ['word', 'char_wb'], 4);
    const a = m.scores(['god pixel orbit', 'engine']), b = back.scores(['god pixel orbit', 'engine']);
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-6, `${x} vs ${b[i]}`));
    assert.throws(() => TfidfBaseline.load(dir, ['word']), /terms.txt is missing/);
  });

  it('a hybrid.json written when the word part was the only one still loads', () => {
    const texts = ['the god of the orbit', 'pixel engine and the', 'orbit orbit god', 'engine pixel pixel'];
    const m = new TfidfBaseline().fit(texts, Int32Array.from([0, 1, 0, 1]), 2);
    const dir = mkdtempSync(join(tmpdir(), 'old-hybrid-'));
    m.save(join(dir, 'tfidf'));
    writeFileSync(join(dir, 'hybrid.json'), JSON.stringify({ lambda: 3, minDf: 1, selection: { slice: 4, seed: 1, accuracy: { transformer: 0.5, tfidf: 0.75, hybrid: 1 } } }));
    const h = Hybrid.load(dir)!;
    assert.deepEqual(h.spec.parts, [{ analyzers: ['word'], dir: 'tfidf', minDf: [1], C: 1, lambda: 3 }]);
    assert.deepEqual(h.spec.selection.accuracy, { transformer: 0.5, parts: [0.75], hybrid: 1 });
    const { tfidfScores } = h.combine(Float64Array.from([0.5, 0.5]), ['god orbit'], 2);
    const want = m.scores(['god orbit']);
    tfidfScores[0].forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `${x} vs ${want[i]}`));
    // As written when each part had one analyzer: read as that analyzer alone, C 1.
    writeFileSync(join(dir, 'hybrid.json'), JSON.stringify({ parts: [{ analyzer: 'word', dir: 'tfidf', minDf: 1, lambda: 2 }], selection: { slice: 4, seed: 1, accuracy: { transformer: 0.5, parts: [0.75], hybrid: 1 } } }));
    assert.deepEqual(Hybrid.load(dir)!.spec.parts, [{ analyzers: ['word'], dir: 'tfidf', minDf: [1], C: 1, lambda: 2 }]);
    writeFileSync(join(dir, 'hybrid.json'), JSON.stringify({ parts: [{ analyzer: 'bpe', dir: 'tfidf', minDf: 1, lambda: 1 }] }));
    assert.throws(() => Hybrid.load(dir), /unknown analyzer "bpe"/);
    writeFileSync(join(dir, 'hybrid.json'), JSON.stringify({ parts: [{ analyzers: ['word'], dir: 'tfidf', minDf: [1], C: 0, lambda: 1 }] }));
    assert.throws(() => Hybrid.load(dir), /C must be a positive number/);
  });

  it('TF-IDF parts without hybrid.json are refused in one line, not read as the transformer alone', () => {
    const model = makeModelDir(32);
    assert.equal(cli('predict', '--model', model, 'god').status, 0);
    new TfidfBaseline().fit(['the god of the orbit', 'pixel engine and the'], Int32Array.from([0, 1]), 2).save(join(model, 'tfidf'));
    const r = cli('predict', '--model', model, 'god');
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), /holds TF-IDF parts \(tfidf\/\) but no hybrid\.json: an unfinished hybrid .* remove those folders to use the transformer alone$/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});

describe('train --hybrid', () => {
  it('stores the TF-IDF part and the weight; predict, evaluate (side by side), serve and export use or name it', async () => {
    const data = makeNewsgroupsFolder(20);
    const out = mkdtempSync(join(tmpdir(), 'hybrid-'));
    const t = cli('train', '--data', data, '--init', 'scratch', '--vocab', makeVocab(), '--preset', 'small', '--layers', '1', '--dim', '16',
      '--heads', '2', '--ffn', '32', '--max-length', '16', '--batch-size', '8', '--epochs', '3', '--lr', '1e-2', '--no-progress',
      '--hybrid', '--hybrid-parts', 'word,word+char_wb', '--fusion-fraction', '0.1', '--out', out);
    assert.equal(t.status, 0, t.stderr);
    // 160 posts, card split: floor(16) validation, 144 training, of which round(14.4) = 14 held out.
    assert.match(t.stderr, /hybrid: 14 training texts held out/);
    assert.match(t.stderr, /hybrid: lambda word \d+, lambda word\+char_wb \d+/);
    const model = join(out, 'model');
    const union = 'tfidf-word-char_wb';
    for (const f of ['hybrid.json', 'tfidf/terms.txt', 'tfidf/model.safetensors', `${union}/terms-word.txt`, `${union}/terms-char_wb.txt`, `${union}/model.safetensors`]) {
      assert.ok(existsSync(join(model, f)), f);
    }
    const spec = JSON.parse(readFileSync(join(model, 'hybrid.json'), 'utf8'));
    assert.equal(spec.selection.slice, 14);
    assert.deepEqual(spec.parts.map((p: { analyzers: string[]; dir: string; C: number }) => [p.analyzers, p.dir, p.C]), [[['word'], 'tfidf', 1], [['word', 'char_wb'], union, 2]]);
    // A char n-gram term: a 3- to 5-character piece of a space-padded word.
    assert.ok(readFileSync(join(model, union, 'terms-char_wb.txt'), 'utf8').split('\n').includes(' god'));
    assert.match(readFileSync(join(model, 'README.md'), 'utf8'), /## Hybrid/);

    const p = cli('predict', '--model', model, '--json', 'god god orbit the');
    assert.equal(p.status, 0, p.stderr);
    const ranked = JSON.parse(p.stdout.trim()).predictions;
    assert.ok(Math.abs(ranked.reduce((s: number, r: { score: number }) => s + r.score, 0) - 1) < 1e-9, 'fused probabilities sum to 1');

    const e = cli('evaluate', '--model', model, '--data', data, '--json');
    assert.equal(e.status, 0, e.stderr);
    const r = JSON.parse(e.stdout);
    assert.deepEqual(r.hybrid.parts.map((p: { part: string; lambda: number }) => [p.part, p.lambda]), [['word', spec.parts[0].lambda], ['word+char_wb', spec.parts[1].lambda]]);
    for (const k of ['accuracy', 'macro_f1']) {
      assert.equal(typeof r[k], 'number');
      assert.equal(typeof r.hybrid.transformer[k], 'number');
      for (const p of r.hybrid.parts) assert.equal(typeof p[k], 'number');
    }
    const text = cli('evaluate', '--model', model, '--data', data);
    assert.match(text.stdout, /side by side: hybrid .*; its transformer alone: accuracy .*; its TF-IDF word part alone: accuracy .*; its TF-IDF word\+char_wb part alone: accuracy/);

    // The server (and its page) use the hybrid: its scores are softmax((log p + lw * s_word + lc * s_union) / T)
    // of the transformer's probabilities and the stored TF-IDF parts' decision values, recomputed here.
    const loaded = loadModelDir(model);
    const texts = ['god orbit the pixel', 'engine engine of a'];
    const enc = texts.map((t) => loaded.tokenizer.encode(t));
    const C = loaded.config.id2label.length;
    const probs = softmaxRows(predictLogits(new EncoderClassifier(loaded.config, loadModelDir(model).params), enc, loaded.tokenizer.padId), C);
    const svm = TfidfBaseline.load(join(model, 'tfidf')).scores(texts);
    const svmChar = TfidfBaseline.load(join(model, union), ['word', 'char_wb'], 2).scores(texts);
    const [lw, lc] = spec.parts.map((p: { lambda: number }) => p.lambda);
    // Temperatures fitted on the same held-out slice: the served probabilities are softmax(z / T_hybrid).
    const cal = JSON.parse(readFileSync(join(model, 'calibration.json'), 'utf8'));
    assert.equal(cal.fitted_on, '14 training texts held out from every part');
    const T = cal.temperature.hybrid as number;
    assert.ok(T > 0 && cal.temperature.transformer > 0);
    const app = buildServer(Classifier.load(loaded), { ...DEFAULT_SERVER_OPTIONS, modelName: 'hybrid' });
    try {
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      assert.match(await (await fetch(`${base}/`)).text(), /Hybrid: the transformer fused with TF-IDF \+ linear SVM models/);
      const res = await fetch(`${base}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts }) });
      const body = (await res.json()) as { results: { predictions: { label: string; score: number }[] }[] };
      body.results.forEach((r, i) => {
        const z = loaded.config.id2label.map((_, c) => (Math.log(probs[i * C + c]) + lw * svm[i * C + c] + lc * svmChar[i * C + c]) / T);
        const sum = z.reduce((acc, v) => acc + Math.exp(v), 0);
        for (const p of r.predictions) {
          const want = Math.exp(z[loaded.config.id2label.indexOf(p.label)]) / sum;
          assert.ok(Math.abs(p.score - want) < 1e-9, `${p.label}: ${p.score} vs ${want}`);
        }
      });
    } finally {
      await app.close();
    }

    const x = cli('export', '--model', model, '--out', join(out, 'onnx'));
    assert.equal(x.status, 0, x.stderr);
    assert.match(x.stderr, /is a hybrid; the export carries its transformer part only/);
    assert.ok(existsSync(join(out, 'onnx', 'onnx', 'model.onnx')));
  });

  it('by default one part reads words and character n-grams side by side; --hybrid-parts word stores the word part only; unknown or repeated names are refused', () => {
    const data = makeNewsgroupsFolder(10);
    const out = mkdtempSync(join(tmpdir(), 'hybrid-word-'));
    const args = ['train', '--data', data, '--init', 'scratch', '--vocab', makeVocab(), '--preset', 'small', '--layers', '1', '--dim', '16',
      '--heads', '2', '--ffn', '32', '--max-length', '16', '--batch-size', '8', '--epochs', '1', '--no-progress', '--hybrid'];
    const d = cli(...args, '--out', join(out, 'default'));
    assert.equal(d.status, 0, d.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'default', 'model', 'hybrid.json'), 'utf8')).parts.map((p: { analyzers: string[] }) => p.analyzers), [['word', 'char_wb']]);
    const t = cli(...args, '--hybrid-parts', 'word', '--out', join(out, 'word'));
    assert.equal(t.status, 0, t.stderr);
    assert.ok(existsSync(join(out, 'word', 'model', 'tfidf', 'terms.txt')));
    assert.deepEqual(readdirSync(join(out, 'word', 'model')).filter((f) => f.startsWith('tfidf')), ['tfidf']);
    assert.equal(JSON.parse(readFileSync(join(out, 'word', 'model', 'hybrid.json'), 'utf8')).parts.length, 1);
    for (const [parts, message] of [['word,chars', /unknown analyzer "chars": choose from word, char_wb/], ['word+word', /an analyzer is named twice in "word\+word"/], ['char_wb,char_wb', /a part is named twice/]] as const) {
      const bad = cli(...args, '--hybrid-parts', parts, '--out', join(out, 'bad'));
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, message);
      assert.ok(!existsSync(join(out, 'bad')), 'a refused command writes nothing');
    }
  });

  it('--fusion-fraction needs --hybrid', () => {
    const r = cli('train', '--data', makeNewsgroupsFolder(2), '--init', 'scratch', '--vocab', makeVocab(), '--fusion-fraction', '0.1', '--out', join(mkdtempSync(join(tmpdir(), 'h-')), 'x'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--fusion-fraction is for --hybrid runs/);
  });
});
