import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Random } from '../src/data/random';
import { parseConfig } from '../src/model/config';
import { ParamStore } from '../src/io/params';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { padBatch } from '../src/tokenizer';
import { initParams } from '../src/train/init';
import { stepMicroBatches } from '../src/train/loop';

describe('micro-batches of a step ordered by length', () => {
  const lengths = [5, 1, 4, 2, 3, 6, 2, 5];
  const idx = [0, 1, 2, 3, 4, 5, 6, 7];

  it('are cut from the step\'s examples sorted by length; one micro-batch keeps the order', () => {
    assert.deepEqual(stepMicroBatches(idx, (i) => lengths[i], 3), [[1, 3, 6], [4, 2, 0], [7, 5]]);
    assert.deepEqual(stepMicroBatches(idx, (i) => lengths[i], 8), [idx]);
    const padded = (parts: number[][]) => parts.reduce((s, p) => s + p.length * Math.max(...p.map((i) => lengths[i])), 0);
    const unsorted = [[0, 1, 2], [3, 4, 5], [6, 7]];
    assert.equal(padded(unsorted), 15 + 18 + 10);
    assert.equal(padded(stepMicroBatches(idx, (i) => lengths[i], 3)), 6 + 15 + 12);
  });

  it('give the gradient of the whole batch', () => {
    const config = parseConfig({ vocab_size: 40, max_position_embeddings: 8, n_layers: 2, n_heads: 2, dim: 8, hidden_dim: 16, dropout: 0, attention_dropout: 0, seq_classif_dropout: 0 });
    const params = new ParamStore(config);
    initParams(params, new Random(8));
    const model = new EncoderClassifier(config, params);
    const enc = lengths.map((n, r) => ({ ids: Array.from({ length: n }, (_, k) => 1 + ((r * 7 + k) % 39)), truncated: false }));
    const labels = Int32Array.from(lengths, (_, r) => r % 2);
    const whole = padBatch(enc, 0);
    model.forward(whole.inputIds, whole.attentionMask, whole.batchSize, whole.seqLen);
    const loss = model.loss(labels);
    model.backward();
    const g1 = model.readGrads().data;
    model.zeroGrads();
    let parts = 0;
    for (const part of stepMicroBatches(idx, (i) => lengths[i], 3)) {
      const b = padBatch(part.map((i) => enc[i]), 0);
      model.forward(b.inputIds, b.attentionMask, b.batchSize, b.seqLen);
      parts += model.loss(Int32Array.from(part, (i) => labels[i]), part.length / idx.length) * (part.length / idx.length);
      model.backward();
    }
    assert.ok(Math.abs(loss - parts) < 1e-6, `${loss} vs ${parts}`);
    const g2 = model.readGrads().data;
    let worst = 0;
    g1.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - g2[i]))));
    assert.ok(worst < 1e-6, `max difference ${worst}`);
  });
});
