import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calibrationStats, fitTemperature, nllAt, withTemperature } from '../src/eval/calibration';
import { argmaxRows } from '../src/maths/rows';
import { Random } from '../src/data/random';

describe('temperature scaling and calibration error', () => {
  it('ECE and NLL of a hand-checked case', () => {
    // Two labels; top probabilities 0.9 (right), 0.9 (wrong), 0.6 (right), 0.7 (right).
    const probs = [0.9, 0.1, 0.1, 0.9, 0.6, 0.4, 0.3, 0.7];
    const labels = [0, 0, 0, 1];
    const s = calibrationStats(probs, labels, 2, 10);
    // Bin [0.9, 1.0): 2 texts, confidence 0.9, accuracy 0.5; bin [0.6, 0.7): 0.6 vs 1; bin [0.7, 0.8): 0.7 vs 1.
    assert.ok(Math.abs(s.ece - (2 * 0.4 + 0.4 + 0.3) / 4) < 1e-12, `ece ${s.ece}`);
    assert.ok(Math.abs(s.nll - -(Math.log(0.9) + Math.log(0.1) + Math.log(0.6) + Math.log(0.7)) / 4) < 1e-12);
    assert.deepEqual(s.bins.filter((b) => b.count).map((b) => [b.count, +b.confidence.toFixed(6), b.accuracy]), [[1, 0.6, 1], [1, 0.7, 1], [2, 0.9, 0.5]]);
  });

  it('the fitted temperature is the NLL minimum (checked on a grid), and undoes a known overconfidence', () => {
    const rng = new Random(7), C = 5, n = 2000;
    // Scores whose true temperature is 2.5: labels drawn from softmax(z / 2.5), the model reports softmax(z).
    const z = Float64Array.from({ length: n * C }, () => 4 * (rng.next() - 0.5) * 3);
    const truth = withTemperature(z, C, 2.5);
    const labels = Int32Array.from({ length: n }, (_, r) => {
      let u = rng.next(), c = 0;
      while (c < C - 1 && (u -= truth[r * C + c]) > 0) c++;
      return c;
    });
    const T = fitTemperature(z, labels, C);
    let best = Infinity, bestT = 0;
    for (let t = 0.5; t <= 6; t += 0.001) {
      const v = nllAt(z, labels, C, t);
      if (v < best) (best = v), (bestT = t);
    }
    assert.ok(Math.abs(T - bestT) < 0.002, `golden-section ${T} vs grid ${bestT}`);
    assert.ok(Math.abs(T - 2.5) < 0.25, `fitted ${T} for a true 2.5`);
    const before = calibrationStats(withTemperature(z, C, 1), labels, C), after = calibrationStats(withTemperature(z, C, T), labels, C);
    assert.ok(after.ece < before.ece && after.nll < before.nll, `ECE ${before.ece} -> ${after.ece}, NLL ${before.nll} -> ${after.nll}`);
  });

  it('a temperature never changes the predicted label', () => {
    const rng = new Random(1), C = 20;
    const z = Float64Array.from({ length: 500 * C }, () => 30 * (rng.next() - 0.5));
    const top = argmaxRows(z, C);
    for (const T of [0.05, 0.7, 1, 3.3, 20]) assert.deepEqual(argmaxRows(withTemperature(z, C, T), C), top, `T = ${T}`);
  });
});
