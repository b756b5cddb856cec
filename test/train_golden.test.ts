import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readConfig } from '../src/io/config';
import { readSafetensors } from '../src/io/safetensors';
import { DistilBert } from '../src/model/distilbert';
import { ParamStore } from '../src/model/params';
import { KerasAdam } from '../src/train/adam';
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
    const adam = new KerasAdam(params.size, new PolynomialDecay(lr.initial, lr.decay_steps, lr.end, lr.power),
      { beta1: o.beta_1, beta2: o.beta_2, epsilon: o.epsilon });
    const wantLoss = (JSON.parse(readFileSync(`${dir}/steps.json`, 'utf8')) as { loss: number[] }).loss;
    const model = new DistilBert(config, params);
    const gradsStep1 = readSafetensors(`${dir}/grads_step1.safetensors`);

    (golden.batches as GoldenBatch[]).forEach((batch, step) => {
      const B = batch.input_ids.length, T = batch.input_ids[0].length;
      model.grads.data.fill(0);
      model.forward(Int32Array.from(batch.input_ids.flat()), Int32Array.from(batch.attention_mask.flat()), B, T, { train: true, seed: step });
      const loss = model.loss(Int32Array.from(batch.labels));
      assert.ok(Math.abs(loss - wantLoss[step]) < 1e-5, `step ${step + 1}: loss ${loss}, golden ${wantLoss[step]}`);
      model.backward();
      if (step === 0) {
        let worst = { name: '', err: 0 };
        for (const s of params.slots) {
          const want = gradsStep1.get(s.name);
          assert.ok(want, `golden gradient for ${s.name}`);
          const got = model.grads.get(s.name);
          for (let i = 0; i < s.size; i++) {
            const err = Math.abs(got[i] - want.data[i]);
            if (err > worst.err) worst = { name: s.name, err };
          }
        }
        console.log(`step-1 gradients: max abs error ${worst.err} (${worst.name})`);
        assert.ok(worst.err < 1e-5, `gradient ${worst.name}: max abs error ${worst.err}`);
      }
      adam.update(params.data, model.grads.data);
    });

    const final = readSafetensors(`${dir}/final.safetensors`);
    let worst = { name: '', err: 0 };
    for (const s of params.slots) {
      const got = params.get(s.name);
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
