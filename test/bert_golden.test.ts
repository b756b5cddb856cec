import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseConfig, readConfig } from '../src/model/config';
import { ParamStore } from '../src/io/params';
import { readSafetensors, Tensor } from '../src/io/safetensors';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { AdamW } from '../src/train/adamw';
import { LinearWarmupDecay } from '../src/train/schedule';
import { sharedPath, skipUnlessShared } from './shared';

// golden/bert: BertForSequenceClassification (single-label, multi-label, regression) from a float64
// mirror of transformers' modeling_bert.py, with text pairs (token types 0/1) in the batches.
const skip = skipUnlessShared('golden', 'bert', 'single', 'final.safetensors');

interface Batch {
  input_ids: number[][];
  token_type_ids: number[][];
  attention_mask: number[][];
  labels: number[] | number[][];
}

function maxErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let e = 0;
  for (let i = 0; i < got.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return e;
}

function worstTensor(params: ParamStore, golden: Map<string, Tensor>): { name: string; err: number } {
  let worst = { name: '', err: 0 };
  for (const s of params.slots) {
    const want = golden.get(s.name);
    assert.ok(want, `golden tensor for ${s.name}`);
    const err = maxErr(params.get(s.name), want.data);
    if (err > worst.err) worst = { name: s.name, err };
  }
  return worst;
}

const flat = (rows: number[][]) => Int32Array.from(rows.flat());
const cases = skip ? [] : readdirSync(sharedPath('golden', 'bert')).filter((d) => existsSync(sharedPath('golden', 'bert', d, 'batches.json'))).sort();

describe('BERT vs transformers + torch AdamW (golden/bert)', { skip }, () => {
  for (const name of cases) {
    it(`${name}: logits, pooled output, hidden states, losses, gradients and three AdamW steps`, () => {
      const dir = sharedPath('golden', 'bert', name);
      const config = readConfig(`${dir}/config.json`);
      assert.equal(config.modelType, 'bert');
      const params = new ParamStore(config);
      assert.deepEqual(params.loadFile(`${dir}/model.safetensors`), []);
      const model = new EncoderClassifier(config, params);

      const inputs = JSON.parse(readFileSync(`${dir}/inputs.json`, 'utf8')) as Batch;
      const B = inputs.input_ids.length, T = inputs.input_ids[0].length;
      const fwd = readSafetensors(`${dir}/forward.safetensors`);
      const logits = model.forward(flat(inputs.input_ids), flat(inputs.attention_mask), B, T, { tokenTypes: flat(inputs.token_type_ids), allHiddenStates: true });
      const errs = [maxErr(logits, fwd.get('logits')!.data), maxErr(model.pooledOutput(), fwd.get('pooled')!.data),
        ...model.hiddenStates().map((h, i) => maxErr(h, fwd.get(`hidden_states.${i}`)!.data))];
      console.log(`${name} (${config.problemType}): logits ${errs[0].toExponential(2)}, pooled ${errs[1].toExponential(2)}, hidden states ${Math.max(...errs.slice(2)).toExponential(2)}`);
      errs.forEach((e, i) => assert.ok(e < 1e-4, `forward output ${i}: max abs error ${e}`));
      // Without token types the pairs' second segments read as type 0: their embeddings output must move.
      model.forward(flat(inputs.input_ids), flat(inputs.attention_mask), B, T, { allHiddenStates: true });
      assert.ok(maxErr(model.hiddenStates()[0], fwd.get('hidden_states.0')!.data) > 1e-2, 'token types change the embeddings of the text pairs');

      const golden = JSON.parse(readFileSync(`${dir}/batches.json`, 'utf8'));
      const o = golden.optimizer;
      const schedule = new LinearWarmupDecay(o.lr, o.schedule.warmup_steps, o.schedule.total_steps);
      const adamw = new AdamW(schedule, { beta1: o.beta_1, beta2: o.beta_2, epsilon: o.epsilon, weightDecay: o.weight_decay });
      const wantLoss = (JSON.parse(readFileSync(`${dir}/steps.json`, 'utf8')) as { loss: number[] }).loss;
      (golden.batches as Batch[]).forEach((b, step) => {
        const Bb = b.input_ids.length, Tb = b.input_ids[0].length;
        model.forward(flat(b.input_ids), flat(b.attention_mask), Bb, Tb, { train: true, seed: step, tokenTypes: flat(b.token_type_ids) });
        const loss = config.problemType === 'single_label_classification'
          ? model.loss(Int32Array.from(b.labels as number[]))
          : model.lossTargets(Float32Array.from((b.labels as (number | number[])[]).flat()));
        assert.ok(Math.abs(loss - wantLoss[step]) < 1e-5, `step ${step + 1}: loss ${loss}, golden ${wantLoss[step]}`);
        model.backward();
        if (step === 0) {
          const worst = worstTensor(model.readGrads(), readSafetensors(`${dir}/grads_step1.safetensors`));
          console.log(`${name} step-1 gradients: max abs error ${worst.err.toExponential(2)} (${worst.name})`);
          assert.ok(worst.err < 1e-5, `gradient ${worst.name}: max abs error ${worst.err}`);
        }
        adamw.update(model);
      });
      const worst = worstTensor(model.readParams(), readSafetensors(`${dir}/final.safetensors`));
      console.log(`${name} parameters after 3 AdamW steps: max abs error ${worst.err.toExponential(2)} (${worst.name})`);
      assert.ok(worst.err < 5e-5, `parameter ${worst.name}: max abs error ${worst.err}`);
    });
  }
});

describe('BERT configuration and names', () => {
  it('refuses what the engine cannot run, in one line naming the field', () => {
    const base = { model_type: 'bert', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 };
    const parse = (extra: Record<string, unknown>) => () => parseBert({ ...base, ...extra });
    assert.throws(parse({ position_embedding_type: 'relative_key' }), /position_embedding_type "relative_key" is not supported/);
    assert.throws(parse({ is_decoder: true }), /is_decoder/);
    assert.throws(parse({ add_cross_attention: true }), /cross-attention/);
    assert.throws(parse({ hidden_act: 'silu' }), /hidden_act "silu" is not supported/);
    assert.throws(parse({ problem_type: 'regression', num_labels: 3 }), /regression has one output/);
    assert.throws(parse({ problem_type: 'ranking' }), /problem_type "ranking"/);
  });

  it('reads problem_type as transformers does when it is absent', () => {
    const base = { model_type: 'bert', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 };
    assert.equal(parseBert({ ...base, num_labels: 1 }).problemType, 'regression');
    assert.equal(parseBert({ ...base, num_labels: 3 }).problemType, 'single_label_classification');
    assert.equal(parseBert({ ...base }).id2label.length, 2);
    assert.equal(parseBert({ ...base, classifier_dropout: 0.3 }).seqClassifDropout, 0.3);
    assert.equal(parseBert({ ...base, hidden_dropout_prob: 0.2 }).seqClassifDropout, 0.2);
  });

  it('loads a bare BertModel checkpoint and old LayerNorm gamma/beta names into their slots', () => {
    const config = parseBert({ model_type: 'bert', vocab_size: 10, hidden_size: 4, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8, max_position_embeddings: 6 });
    const params = new ParamStore(config);
    assert.equal(params.slotFor('embeddings.word_embeddings.weight')?.name, 'bert.embeddings.word_embeddings.weight');
    assert.equal(params.slotFor('bert.encoder.layer.0.output.LayerNorm.gamma')?.name, 'bert.encoder.layer.0.output.LayerNorm.weight');
    assert.equal(params.slotFor('encoder.layer.0.attention.output.LayerNorm.beta')?.name, 'bert.encoder.layer.0.attention.output.LayerNorm.bias');
    assert.equal(params.slotFor('pooler.dense.weight')?.name, 'bert.pooler.dense.weight');
    assert.equal(params.slotFor('cls.predictions.bias'), undefined);
    assert.equal(params.slotFor('distilbert.embeddings.word_embeddings.weight'), undefined);
  });
});

function parseBert(raw: Record<string, unknown>) {
  return parseConfig(raw, 'config.json');
}
