import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'parse5';
import { TfidfVectorizer } from '../src/baseline/tfidf';
import { computeMetrics } from '../src/eval/metrics';
import { multiLabelMetrics, ranks, regressionMetrics } from '../src/eval/task_metrics';
import { GROUPS, makeModelDir, makeNewsgroupsFolder } from './fixtures';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');

describe('metrics (hand-computed)', () => {
  it('accuracy, per-class precision/recall/F1, macro-F1 and confusion', () => {
    // true:  0 0 0 1 1 2 ; predicted: 0 0 1 1 2 2
    const m = computeMetrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ['a', 'b', 'c']);
    assert.equal(m.accuracy, 4 / 6);
    assert.deepEqual(m.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
    // a: P 2/2 R 2/3 F1 0.8; b: P 1/2 R 1/2 F1 0.5; c: P 1/2 R 1 F1 2/3
    const close = (x: number, y: number) => assert.ok(Math.abs(x - y) < 1e-12, `${x} vs ${y}`);
    close(m.perClass[0].f1, 0.8);
    close(m.perClass[1].f1, 0.5);
    close(m.perClass[2].f1, 2 / 3);
    close(m.macroF1, (0.8 + 0.5 + 2 / 3) / 3);
    close(m.macroPrecision, (1 + 0.5 + 0.5) / 3);
    assert.deepEqual(m.perClass.map((c) => c.support), [3, 2, 1]);
    // A class never predicted and never present: zeros, as scikit-learn's zero_division=0.
    assert.equal(computeMetrics([0], [0], ['a', 'b']).perClass[1].f1, 0);
  });
});

describe('TF-IDF features (hand-computed)', () => {
  it('uni+bigrams, sublinear tf, smooth idf, unit rows', () => {
    const v = new TfidfVectorizer().fit(['the cat', 'the dog dog']);
    const X = v.transform(['the dog dog']);
    // terms: the, dog, the dog, dog dog; idf(the) = ln(3/3)+1 = 1, others ln(3/2)+1; tf(dog) = 1 + ln 2
    const idf = Math.log(1.5) + 1;
    const w = [1, (1 + Math.log(2)) * idf, idf, idf];
    const norm = Math.hypot(...w);
    const got = Array.from(X.values).sort((a, b) => a - b);
    const want = w.map((x) => x / norm).sort((a, b) => a - b);
    got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-6));
    assert.equal(X.indptr[1], 4);
  });

  it('minDf drops rare terms and renumbers the kept ones in order of first appearance', () => {
    const v = new TfidfVectorizer(2);
    const X = v.fitTransform(['a1 b1', 'a1 c1', 'a1 b1 d1']);
    // df: a1 3, b1 2, "a1 b1" 2; c1, d1, "a1 c1", "b1 d1" once each, dropped. n = 3. The
    // second text keeps a1 alone; the third the same three terms as the first.
    assert.deepEqual(v.state().terms, ['a1', 'b1', 'a1 b1']);
    const idf = Math.log(4 / 3) + 1;
    assert.deepEqual(Array.from(v.state().idf), [1, idf, idf]);
    assert.deepEqual(Array.from(X.indptr), [0, 3, 4, 7]);
    assert.deepEqual(Array.from(X.indices), [0, 1, 2, 0, 0, 1, 2]);
    const norm = Math.hypot(1, idf, idf);
    const first = [1 / norm, idf / norm, idf / norm];
    const want = [...first, 1, ...first];
    Array.from(X.values).forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `value ${i}: ${x} against ${want[i]}`));
  });

  it('fitTransform gives what transform gives for the same texts, for both analyzers', () => {
    const texts = ['Re: the 486 DX2 and its cache', 'cache cache, the disk controller', 'Orbit of the moon; the 486?', 'ÉCOLE école'];
    for (const analyzer of ['word', 'char_wb'] as const) {
      for (const minDf of [1, 2]) {
        const v = new TfidfVectorizer(minDf, analyzer);
        const once = v.fitTransform(texts);
        const again = v.transform(texts);
        assert.ok(once.cols > 0 && once.indices.length > 0, `${analyzer} minDf ${minDf}: some features`);
        assert.deepEqual(once, again, `${analyzer} minDf ${minDf}`);
      }
    }
  });
});

describe('evaluate and baseline commands', () => {
  it('maps data groups to model labels by name, and refuses groups the model does not know', () => {
    const data = makeNewsgroupsFolder(6);
    const model = makeModelDir();
    const ok = spawnSync(process.execPath, [CLI, 'evaluate', '--model', model, '--data', data, '--split', 'bydate', '--json'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const j = JSON.parse(ok.stdout);
    assert.equal(j.per_class.length, 20);
    assert.equal(j.per_class.reduce((n: number, c: { support: number }) => n + c.support, 0), 24);
    mkdirSync(join(data, '20news-bydate-test', 'zz.other'));
    writeFileSync(join(data, '20news-bydate-test', 'zz.other', '1'), 'text');
    const bad = spawnSync(process.execPath, [CLI, 'evaluate', '--model', model, '--data', data, '--split', 'bydate'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    // The data's own labels are named, whatever the data set (issue 29 item 12).
    assert.match(bad.stderr, /the data's labels \(.*zz\.other\) are not the model's \(alt\.atheism, comp\.graphics, .*\.\.\. \(20\)\): zz\.other is not among them/);
  });

  it('on a trained fixture model: metrics, report and baseline side by side', () => {
    const data = makeNewsgroupsFolder(12);
    const runs = mkdtempSync(join(tmpdir(), 'runs-'));
    const vocab = join(makeModelDir(), 'vocab.txt');
    const t = spawnSync(process.execPath, [CLI, 'train', '--data', data, '--init', 'scratch', '--vocab', vocab, '--preset', 'small', '--layers', '1', '--dim', '32',
      '--heads', '4', '--ffn', '64', '--max-length', '32', '--batch-size', '8', '--epochs', '60', '--lr', '5e-3', '--strip', 'headers', '--no-progress', '--split', 'bydate', '--calibration-fraction', '0.25', '--out', runs], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    const cal = JSON.parse(readFileSync(join(runs, 'model', 'calibration.json'), 'utf8'));
    assert.ok(cal.temperature.transformer > 0 && cal.fitted_on === '12 training texts held out from training', JSON.stringify(cal));
    const out = join(runs, 'report');
    const r = spawnSync(process.execPath, [CLI, 'evaluate', '--model', join(runs, 'model'), '--data', data, '--split', 'bydate', '--out', out, '--json', '--baseline'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.count, 48);
    assert.equal(j.per_class.length, 4);
    assert.ok(j.accuracy >= 0 && j.accuracy <= 1 && typeof j.macro_f1 === 'number');
    assert.equal(j.baseline.accuracy, 1, 'each group has its own topic word: the baseline separates them');
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(report.systems.length, 2);
    assert.deepEqual(report.systems[0].confusion.flat().reduce((a: number, b: number) => a + b, 0), 48);
    const doc = parse(readFileSync(join(out, 'report.html'), 'utf8'));
    const found: Record<string, number> = {};
    const walk = (n: { nodeName: string; attrs?: { name: string; value: string }[]; childNodes?: unknown[] }) => {
      const cls = n.attrs?.find((a) => a.name === 'class')?.value;
      if (n.nodeName === 'svg' && cls) found[cls] = (found[cls] ?? 0) + 1;
      if (n.nodeName === 'rect' && cls === 'bar') found.bars = (found.bars ?? 0) + 1;
      (n.childNodes as typeof n[] | undefined)?.forEach(walk);
    };
    walk(doc as never);
    assert.equal(found.confusion, 1);
    assert.equal(found['per-class'], 1);
    assert.equal(found.bars, 4 * 3 * 2, '4 classes x precision/recall/F1 x 2 systems');
    assert.equal(found.reliability, 1, 'a reliability diagram');
    assert.equal(j.calibration.length, 1);
    assert.ok(j.calibration[0].after.ece >= 0 && j.calibration[0].temperature === cal.temperature.transformer);
    // Each group's posts differ by their topic word alone. The report's words are summed gradient x
    // input, which ranks nothing reliably on this model: it fits its training texts to probabilities of
    // ~1, where the log-probability's gradient vanishes, and a post-LN encoder is nearly invariant to
    // the scale of what it reads, so the words' scores sum to ~0 with signs set by the training's draws.
    // What holds: a label's list is the words of its correctly classified texts, best first.
    const TOPIC = ['god', 'pixel', 'engine', 'orbit'];
    const FILLERS = ['the', 'a', 'is', 'and', 'of', 'to'];
    const perfect = report.top_words.filter((t: { label: string }) => j.per_class[GROUPS.indexOf(t.label)].f1 === 1);
    assert.ok(perfect.length >= 2, `${perfect.length} labels classified without error`);
    perfect.forEach((t: { label: string; words: { word: string; score: number }[] }) => {
      assert.deepEqual(t.words.map((w) => w.word).sort(), [TOPIC[GROUPS.indexOf(t.label)], ...FILLERS].sort(), t.label);
      t.words.forEach((w, i) => assert.ok(Number.isFinite(w.score) && (i === 0 || w.score <= t.words[i - 1].score), `${t.label}: ${w.word} ${w.score}`));
    });
    // Integrated gradients rank by what the words add to the log-probability over the [PAD] baseline (their
    // scores sum to that difference), so the topic word leads, both its occurrences together, wherever
    // the words add something. Both texts are six words: one baseline, which gives at most one of the
    // two labels a probability over 1/2, so at least one text adds more than log 2 - its own shortfall.
    const texts = ['orbit is and orbit of to', 'engine a is engine and of'];
    let ranked = 0;
    for (const method of ['grad', 'ig']) {
      const p = spawnSync(process.execPath, [CLI, 'predict', '--model', join(runs, 'model'), '--explain', '--method', method, '--json', `Subject: a\n\n${texts[0]}`, `Subject: b\n\n${texts[1]}`], { encoding: 'utf8' });
      assert.equal(p.status, 0, p.stderr);
      p.stdout.trim().split('\n').map((l) => JSON.parse(l)).forEach((line, i) => {
        const words = line.explanation as { word: string; start: number; end: number; score: number }[];
        assert.equal(line.explained.label, line.predictions[0].label);
        assert.equal(line.explained.method, method);
        assert.equal(line.explained.text, texts[i], 'the spans index the text as the model read it (headers stripped)');
        assert.deepEqual(words.map((w) => line.explained.text.slice(w.start, w.end)), texts[i].split(' '));
        assert.equal(line.explained.label, ['sci.space', 'rec.autos'][i]);
        if (method !== 'ig' || line.explained.value - line.explained.baseline_value < 0.5) return;
        ranked++;
        const byWord = new Map<string, number>();
        words.forEach((w) => byWord.set(w.word, (byWord.get(w.word) ?? 0) + w.score));
        assert.equal([...byWord].reduce((a, b) => (b[1] > a[1] ? b : a))[0], ['orbit', 'engine'][i], JSON.stringify([...byWord]));
      });
    }
    assert.ok(ranked >= 1, 'the words add over 0.5 to at least one label');
    const b = spawnSync(process.execPath, [CLI, 'baseline', '--data', data, '--split', 'card', '--json'], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    assert.ok('accuracy' in JSON.parse(b.stdout) && 'macro_f1' in JSON.parse(b.stdout));
  });
});

describe('multi-label and regression metrics (hand-checked)', () => {
  it('micro and macro F1, subset accuracy and per-label figures of thresholded sigmoids', () => {
    // 3 texts x 2 labels. Truth: {a}, {a, b}, {}. Predicted over 0.5: {a}, {a}, {b}.
    const truth = [1, 0, 1, 1, 0, 0];
    const scores = [0.9, 0.2, 0.7, 0.4, 0.1, 0.6];
    const m = multiLabelMetrics(truth, scores, ['a', 'b']);
    // a: tp 2, fp 0, fn 0 -> F1 1. b: tp 0, fp 1, fn 1 -> F1 0. Pooled: tp 2, fp 1, fn 1 -> P = R = 2/3.
    assert.deepEqual(m.perLabel.map((l) => [l.precision, l.recall, l.f1, l.support]), [[1, 1, 1, 2], [0, 0, 0, 1]]);
    assert.ok(Math.abs(m.microF1 - 2 / 3) < 1e-15);
    assert.equal(m.macroF1, 0.5);
    assert.ok(Math.abs(m.subsetAccuracy - 1 / 3) < 1e-15);
    assert.equal(multiLabelMetrics(truth, scores, ['a', 'b'], 0.65).subsetAccuracy, 2 / 3, 'over 0.65 the third text has no label, as it should');
  });

  it('RMSE, MAE, Pearson, and Spearman with tied ranks', () => {
    const m = regressionMetrics([1, 2, 3, 4], [1, 3, 3, 5]);
    assert.equal(m.rmse, Math.sqrt(2 / 4));
    assert.equal(m.mae, 0.5);
    // Pearson of (1,2,3,4) and (1,3,3,5): means 2.5 and 3; sxy = 1.5*2 + .5*0 + .5*0 + 1.5*2 = 6; sxx = 5; syy = 8.
    assert.ok(Math.abs(m.pearson - 6 / Math.sqrt(40)) < 1e-15);
    // Ranks of (1,3,3,5): 1, 2.5, 2.5, 4 -> Pearson with 1..4: sxy = 1.5*1.5 + 0 + 0 + 1.5*1.5 = 4.5; syy = 4.5; sxx = 5.
    assert.deepEqual(Array.from(ranks([1, 3, 3, 5])), [1, 2.5, 2.5, 4]);
    assert.ok(Math.abs(m.spearman - 4.5 / Math.sqrt(5 * 4.5)) < 1e-15);
    assert.ok(Number.isNaN(regressionMetrics([1, 1], [0, 2]).pearson), 'a constant side has no correlation');
  });
});
