import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Random } from '../src/data/random';
import { parseConfig, readConfig } from '../src/model/config';
import { readSafetensors } from '../src/io/safetensors';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { ParamStore } from '../src/io/params';
import { KerasAdam } from '../src/train/adam';
import { initParams } from '../src/train/init';
import { PolynomialDecay } from '../src/train/schedule';
import { sharedPath, skipUnlessShared } from './shared';

const skip = skipUnlessShared('golden', 'train', 'final.safetensors');

interface GoldenBatch {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[];
}

describe('training step vs transformers + Keras Adam (golden/train)', { skip }, () => {
  it('loss before each step, step-1 gradients and parameters after three steps', () => {
    const dir = sharedPath('golden', 'train');
    const config = readConfig(`${dir}/config.json`);
    const params = new ParamStore(config);
    assert.deepEqual(params.load(readSafetensors(`${dir}/model.safetensors`), 'model.safetensors'), []);
    const golden = JSON.parse(readFileSync(`${dir}/batches.json`, 'utf8'));
    const o = golden.optimizer;
    const lr = o.learning_rate;
    const adam = new KerasAdam(new PolynomialDecay(lr.initial, lr.decay_steps, lr.end, lr.power),
      { beta1: o.beta_1, beta2: o.beta_2, epsilon: o.epsilon });
    const wantLoss = (JSON.parse(readFileSync(`${dir}/steps.json`, 'utf8')) as { loss: number[] }).loss;
    const model = new EncoderClassifier(config, params);
    const gradsStep1 = readSafetensors(`${dir}/grads_step1.safetensors`);

    (golden.batches as GoldenBatch[]).forEach((batch, step) => {
      const B = batch.input_ids.length, T = batch.input_ids[0].length;
      model.forward(Int32Array.from(batch.input_ids.flat()), Int32Array.from(batch.attention_mask.flat()), B, T, { train: true, seed: step });
      const loss = model.loss(Int32Array.from(batch.labels));
      assert.ok(Math.abs(loss - wantLoss[step]) < 1e-5, `step ${step + 1}: loss ${loss}, golden ${wantLoss[step]}`);
      model.backward();
      if (step === 0) {
        const grads = model.readGrads();
        let worst = { name: '', err: 0 };
        for (const s of params.slots) {
          const want = gradsStep1.get(s.name);
          assert.ok(want, `golden gradient for ${s.name}`);
          const got = grads.get(s.name);
          for (let i = 0; i < s.size; i++) {
            const err = Math.abs(got[i] - want.data[i]);
            if (err > worst.err) worst = { name: s.name, err };
          }
        }
        console.log(`step-1 gradients: max abs error ${worst.err} (${worst.name})`);
        assert.ok(worst.err < 1e-5, `gradient ${worst.name}: max abs error ${worst.err}`);
      }
      // The trainer's path: sparse word-embedding rows in Adam and in gradient zeroing.
      adam.update(model);
    });

    const final = readSafetensors(`${dir}/final.safetensors`);
    let worst = { name: '', err: 0 };
    const after = model.readParams();
    for (const s of params.slots) {
      const got = after.get(s.name);
      const want = final.get(s.name)!.data;
      for (let i = 0; i < s.size; i++) {
        const err = Math.abs(got[i] - want[i]);
        if (err > worst.err) worst = { name: s.name, err };
      }
    }
    console.log(`parameters after 3 steps: max abs error ${worst.err} (${worst.name})`);
    assert.ok(worst.err < 5e-5, `parameter ${worst.name}: max abs error ${worst.err}`);
  });
});

describe('sparse word-embedding updates', () => {
  it('equal dense Keras Adam bit for bit over steps that touch different rows', () => {
    const config = parseConfig({ vocab_size: 40, max_position_embeddings: 8, n_layers: 1, n_heads: 2, dim: 8, hidden_dim: 16, dropout: 0.1, attention_dropout: 0, seq_classif_dropout: 0 });
    const make = () => {
      const params = new ParamStore(config);
      initParams(params, new Random(3));
      const model = new EncoderClassifier(config, params);
      return { model, adam: new KerasAdam(new PolynomialDecay(1e-2, 6)) };
    };
    const dense = make(), sparse = make();
    const batches = [[1, 2, 3, 0], [4, 5, 2, 0], [9, 9, 1, 0], [30, 31, 32, 33], [1, 2, 3, 0]];
    batches.forEach((ids, step) => {
      for (const { model } of [dense, sparse]) {
        model.forward(Int32Array.from(ids), Int32Array.from([1, 1, 1, ids[3] ? 1 : 0]), 1, 4, { train: true, seed: step });
        model.loss(Int32Array.from([step % 2]));
        model.backward();
      }
      dense.adam.update(dense.model, false);
      sparse.adam.update(sparse.model);
      assert.ok(sparse.model.readGrads().data.every((g) => g === 0), 'gradients zeroed');
      assert.deepEqual(sparse.model.readParams().data, dense.model.readParams().data, `step ${step + 1}`);
      assert.deepEqual(sparse.model.readMoments().v, dense.model.readMoments().v);
    });
    // Rows never touched kept their initial weights exactly.
    const untouched = make().model.readParams().get('distilbert.embeddings.word_embeddings.weight').subarray(20 * 8, 21 * 8);
    assert.deepEqual(sparse.model.readParams().get('distilbert.embeddings.word_embeddings.weight').subarray(20 * 8, 21 * 8), untouched);
  });
});

describe('gradient accumulation over micro-batches', () => {
  it('two halves with loss scale 1/2 give the gradient of the whole batch', () => {
    const config = parseConfig({ vocab_size: 40, max_position_embeddings: 8, n_layers: 2, n_heads: 2, dim: 8, hidden_dim: 16, dropout: 0, attention_dropout: 0, seq_classif_dropout: 0 });
    const params = new ParamStore(config);
    initParams(params, new Random(5));
    const model = new EncoderClassifier(config, params);
    const ids = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 0, 0]);
    const mask = Int32Array.from(ids, (id) => (id ? 1 : 0));
    const labels = Int32Array.from([0, 1, 0, 1]);
    model.forward(ids, mask, 4, 4);
    const whole = model.loss(labels);
    model.backward();
    const g1 = model.readGrads().data;
    model.zeroGrads();
    let halves = 0;
    for (const h of [0, 1]) {
      model.forward(ids.subarray(h * 8, h * 8 + 8), mask.subarray(h * 8, h * 8 + 8), 2, 4);
      halves += model.loss(labels.subarray(h * 2, h * 2 + 2), 0.5) * 0.5;
      model.backward();
    }
    assert.ok(Math.abs(whole - halves) < 1e-6);
    let worst = 0;
    const g2 = model.readGrads().data;
    g1.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - g2[i]))));
    assert.ok(worst < 1e-6, `max difference ${worst}`);
  });
});
