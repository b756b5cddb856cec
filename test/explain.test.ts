import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze, analyzeCharWb, analyzeWithSpans } from '../src/baseline/tfidf';
import { TfidfBaseline } from '../src/baseline/baseline';
import { TfidfVectorizer } from '../src/baseline/tfidf';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { loadModelDir } from '../src/model/model_dir';
import { logSumExpRow } from '../src/maths/rows';
import { Classifier } from '../src/pipeline/classifier';
import { deleteWords } from '../src/bench/faithfulness';
import { explain, tokenAttributions } from '../src/pipeline/explain';
import { sharedPath, skipUnlessShared } from './shared';

const skip = skipUnlessShared('golden', 'tiny', 'model.safetensors');

const TEXTS = [
  'The doctor said my cholesterol is fine, but the diet is hard.',
  'Which disk controller works with my 486? The IDE one fails at boot.',
  'Launch windows for the shuttle depend on orbital mechanics and weather.',
];

/** The golden tiny model, each weight scaled by gain(name) (default: as it is). */
function tinyModel(gain: (name: string) => number = () => 1): { model: EncoderClassifier; classifier: Classifier } {
  const loaded = loadModelDir(sharedPath('golden', 'tiny'));
  for (const slot of loaded.params.slots) {
    const g = gain(slot.name);
    if (g !== 1) loaded.params.get(slot.name).forEach((v, i, a) => (a[i] = v * g));
  }
  const model = new EncoderClassifier(loaded.config, loaded.params);
  const classifier = new Classifier({ model, tokenizer: loaded.tokenizer, labels: loaded.config.id2label, maxLength: 64 });
  return { model, classifier };
}

function ids(c: Classifier, text: string): Int32Array {
  return Int32Array.from(c.tokenizer.encode(text, { maxLength: c.maxLength }).ids);
}

describe('word attributions (golden/tiny)', { skip }, () => {
  it('gradient x input equals finite differences of the engine forward, token by token, within 1e-3 relative', () => {
    const { model, classifier } = tinyModel();
    const D = model.config.dim;
    for (const text of TEXTS) {
      const x = ids(classifier, text), T = x.length, target = 3;
      const got = tokenAttributions(model, x, target, { method: 'grad', steps: 1, padId: 0 });
      model.forward(x, new Int32Array(T).fill(1), 1, T, { allHiddenStates: true });
      const emb = model.hiddenStates()[0];
      // d/de f(x with token t's row scaled by 1 + e) at e = 0 is that token's gradient x input.
      const f = (t: number, e: number) => {
        const y = Float32Array.from(emb);
        for (let d = t * D; d < (t + 1) * D; d++) y[d] *= 1 + e;
        const z = model.forwardEmbedded(y, new Int32Array(T).fill(1), 1, T);
        return z[target] - logSumExpRow(z, 0, z.length);
      };
      // Five-point central differences (error O(h^4)): the scores are small, so h is not.
      const h = 0.07;
      let num = 0, den = 0;
      for (let t = 0; t < T; t++) {
        const fd = (8 * (f(t, h) - f(t, -h)) - (f(t, 2 * h) - f(t, -2 * h))) / (12 * h);
        num += (fd - got.scores[t]) ** 2;
        den += got.scores[t] ** 2;
      }
      const rel = Math.sqrt(num / den);
      assert.ok(rel < 1e-3, `${JSON.stringify(text.slice(0, 20))}: relative error ${rel}`);
    }
  });

  it('integrated gradients are complete at 64 steps: |sum - (f(text) - f(baseline))| <= 0.01 |difference| + 1e-3', () => {
    // Scores of the tiny random model barely move across a path: its layers' weights x4 and its classifier's x3000
    // make differences of several units while the path stays smooth enough for 64 steps.
    const { model, classifier } = tinyModel((name) => (name === 'classifier.weight' ? 3000 : /lin\.weight$/.test(name) ? 4 : 1));
    let checked = 0;
    for (const text of TEXTS) {
      const x = ids(classifier, text);
      for (let target = 0; target < 20; target++) {
        const r = tokenAttributions(model, x, target, { method: 'ig', steps: 64, padId: 0 });
        const diff = r.value - r.baselineValue!;
        if (Math.abs(diff) <= 1) continue;
        const sum = r.scores.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - diff) <= 0.01 * Math.abs(diff) + 1e-3, `${JSON.stringify(text.slice(0, 20))} label ${target}: sum ${sum}, difference ${diff}`);
        // [CLS] and [SEP] are the same in the text and its baseline: no attribution.
        assert.equal(r.scores[0], 0);
        assert.equal(r.scores[x.length - 1], 0);
        checked++;
      }
    }
    assert.ok(checked >= 20, `${checked} text-label pairs with a difference over 1`);
  });

  it('explain() sums pieces into words with their spans, marks words past truncation, and the chunking does not change IG', () => {
    const { classifier } = tinyModel();
    const short = new Classifier({ ...classifier, hybrid: undefined, maxLength: 8 });
    const text = 'Cholesterol levels, unaffordable diets and doctors everywhere.';
    const e = explain(short, text, { method: 'grad' });
    for (const w of e.words) assert.equal(text.slice(w.start, w.end), w.word);
    assert.deepEqual(e.words.map((w) => w.word).slice(0, 3), ['Cholesterol', 'levels', ',']);
    const pieces = short.tokenizer.spans(text).tokens;
    // 6 tokens read: the words they belong to are read, the others not.
    const readWords = new Set(pieces.slice(0, 6).map((t) => t.word));
    e.words.forEach((w, k) => assert.equal(w.read, readWords.has(k)));
    assert.ok(e.words.some((w) => !w.read) && e.truncated);
    const tokenScores = tokenAttributions(short.model, ids(short, text), short.labels.indexOf(e.label), { method: 'grad', steps: 1, padId: 0 }).scores;
    const wordSum = e.words.reduce((s, w) => s + w.score, 0);
    assert.ok(Math.abs(wordSum + e.special - tokenScores.reduce((a, b) => a + b, 0)) < 1e-9);
    const a = explain(classifier, text, { method: 'ig', steps: 8, chunkTokens: 1 });
    const b = explain(classifier, text, { method: 'ig', steps: 8, chunkTokens: 10_000 });
    a.words.forEach((w, k) => assert.ok(Math.abs(w.score - b.words[k].score) < 1e-5, `${w.word}: ${w.score} vs ${b.words[k].score}`));
    assert.throws(() => explain(classifier, text, { label: 'nope' }), /no label "nope"/);
    assert.throws(() => explain(classifier, text, { method: 'ig', steps: 0 }), /steps must be an integer/);
  });
});

describe('TF-IDF attributions (hand-checked)', () => {
  it('grams with spans are the analyzers own grams, in order, and each span reads its gram', () => {
    const text = 'İstanbul  CAFÉ-au-lait x  ab';
    for (const [analyzer, grams] of [['word', analyze(text)], ['char_wb', analyzeCharWb(text)]] as const) {
      const got = analyzeWithSpans(text, analyzer);
      assert.deepEqual(got.map((g) => g.gram), grams);
      if (analyzer === 'word') for (const g of got) assert.equal(g.spans.map(([a, b]) => text.slice(a, b).toLowerCase()).join(' '), g.gram);
    }
    const cafe = analyzeWithSpans(text, 'char_wb').find((g) => g.gram === ' caf')!;
    assert.deepEqual(cafe.spans, [[10, 13]]);
  });

  it("a linear model's character shares sum to its decision value less the intercept", () => {
    const texts = ['space shuttle launch orbit', 'doctor diet cholesterol', 'shuttle orbit moon', 'diet doctor pills'];
    const model = new TfidfBaseline([new TfidfVectorizer(1, 'word'), new TfidfVectorizer(1, 'char_wb')]).fit(texts, Int32Array.from([0, 1, 0, 1]), 2);
    const text = 'The shuttle and the doctor';
    for (const label of [0, 1]) {
      const shares = model.charAttributions(text, label);
      const total = shares.reduce((a, b) => a + b, 0);
      const expected = model.scores([text])[label] - model.scores([''])[label];
      assert.ok(Math.abs(total - expected) < 1e-9, `label ${label}: ${total} vs ${expected}`);
      // Spaces read by no gram get nothing.
      assert.equal(shares[3], 0);
    }
  });
});

describe('faithfulness (ERASER comprehensiveness)', () => {
  it('deleting words removes exactly their characters (hand-checked)', () => {
    const text = 'The doctor said: cholesterol!';
    const w = (start: number, end: number) => ({ word: text.slice(start, end), start, end, segment: 0, score: 0, read: true });
    assert.equal(deleteWords(text, [w(17, 28), w(4, 10)]), 'The  said: !');
    assert.equal(deleteWords(text, []), text);
  });
});
