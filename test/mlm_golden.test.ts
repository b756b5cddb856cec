import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readConfig } from '../src/model/config';
import { ParamStore } from '../src/io/params';
import { readSafetensors, Tensor } from '../src/io/safetensors';
import { DistilBertMaskedLM } from '../src/model/masked_lm';
import { AdamW } from '../src/train/adamw';
import { LinearWarmupDecay } from '../src/train/schedule';
import { sharedPath, skipUnlessShared } from './shared';

const skip = skipUnlessShared('golden', 'mlm', 'final.safetensors');

interface MlmBatch {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
}

function maxErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let e = 0;
  for (let i = 0; i < got.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return e;
}

function worstTensor(params: ParamStore, get: (name: string) => Tensor | undefined): { name: string; err: number } {
  let worst = { name: '', err: 0 };
  for (const s of params.slots) {
    const want = get(s.name);
    assert.ok(want, `golden tensor for ${s.name}`);
    const err = maxErr(params.get(s.name), want.data);
    if (err > worst.err) worst = { name: s.name, err };
  }
  return worst;
}

describe('masked LM vs transformers + torch AdamW (golden/mlm)', { skip }, () => {
  it('logits, loss, gradients (tied projector included) and three AdamW steps', () => {
    const dir = sharedPath('golden', 'mlm');
    const config = { ...readConfig(`${dir}/config.json`), head: 'masked-lm' as const };
    const params = new ParamStore(config);
    // vocab_projector.weight is tied to the word embeddings: it has no slot, and the file does not hold it.
    assert.deepEqual(params.load(readSafetensors(`${dir}/model.safetensors`), 'model.safetensors'), []);
    assert.equal(params.byName.has('vocab_projector.weight'), false);
    const golden = JSON.parse(readFileSync(`${dir}/batches.json`, 'utf8'));
    const batches = golden.batches as MlmBatch[];
    const o = golden.optimizer;
    const wantLoss = (JSON.parse(readFileSync(`${dir}/steps.json`, 'utf8')) as { loss: number[] }).loss;
    const ref = readSafetensors(`${dir}/reference.safetensors`);
    const model = new DistilBertMaskedLM(config, params);
    const schedule = new LinearWarmupDecay(o.lr, o.schedule.warmup_steps, o.schedule.total_steps);
    (o.lr_per_step as number[]).forEach((lr, i) => assert.ok(Math.abs(schedule.at(i) - lr) < 1e-15, `lr of update ${i + 1}`));
    const adamw = new AdamW(schedule, { beta1: o.beta_1, beta2: o.beta_2, epsilon: o.epsilon, weightDecay: o.weight_decay });

    batches.forEach((batch, step) => {
      const B = batch.input_ids.length, T = batch.input_ids[0].length;
      const ids = Int32Array.from(batch.input_ids.flat()), mask = Int32Array.from(batch.attention_mask.flat());
      const flatLabels = batch.labels.flat();
      if (step === 0) {
        // Every position, padding included, as the golden logits are.
        const all = Int32Array.from({ length: B * T }, (_, i) => i);
        const logits = model.forward(ids, mask, B, T, all, { grad: false, logits: true })!;
        const err = maxErr(logits, ref.get('logits')!.data);
        console.log(`logits [${B}, ${T}, ${config.vocabSize}]: max abs error ${err.toExponential(2)}`);
        assert.ok(err < 1e-5, `logits: max abs error ${err}`);
      }
      const predict = Int32Array.from(flatLabels.flatMap((l, i) => (l === -100 ? [] : [i])));
      model.forward(ids, mask, B, T, predict, { train: true, seed: step });
      const loss = model.loss(Int32Array.from(predict, (i) => flatLabels[i]));
      assert.ok(Math.abs(loss - wantLoss[step]) < 1e-5, `step ${step + 1}: loss ${loss}, golden ${wantLoss[step]}`);
      model.backward();
      if (step === 0) {
        const worst = worstTensor(model.readGrads(), (n) => ref.get(`grad.${n}`));
        console.log(`step-1 gradients: max abs error ${worst.err.toExponential(2)} (${worst.name})`);
        assert.ok(worst.err < 1e-5, `gradient ${worst.name}: max abs error ${worst.err}`);
      }
      adamw.update(model);
    });

    const final = readSafetensors(`${dir}/final.safetensors`);
    const worst = worstTensor(model.readParams(), (n) => final.get(n));
    console.log(`parameters after 3 AdamW steps: max abs error ${worst.err.toExponential(2)} (${worst.name})`);
    assert.ok(worst.err < 5e-5, `parameter ${worst.name}: max abs error ${worst.err}`);
  });
});
