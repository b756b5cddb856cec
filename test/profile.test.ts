import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Random } from '../src/data/random';
import { ParamStore } from '../src/io/params';
import { parseConfig } from '../src/model/config';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { initParams } from '../src/train/init';

describe('kernel profile (bench --profile)', () => {
  const config = parseConfig({ vocab_size: 30, max_position_embeddings: 8, n_layers: 2, n_heads: 2, dim: 8, hidden_dim: 16 });
  const params = new ParamStore(config);
  initParams(params, new Random(3));
  const ids = Int32Array.from({ length: 12 }, (_, i) => 5 + i), mask = new Int32Array(12).fill(1);

  it('counts each kernel call of a step: a full layer makes 2 linear products and one FFN call, the [CLS]-only last one 3 and one, the head 2 products', () => {
    const model = new EncoderClassifier(config, params, { profile: true });
    model.forward(ids, mask, 2, 6, { train: true, seed: 1 });
    const forward = model.takeProfile();
    assert.equal(forward.linear_forward.calls, 2 + 3 + 2);
    assert.equal(forward.ffn_train_forward.calls, 2);
    assert.equal(forward.attention_forward.calls, 2);
    assert.equal(forward.layernorm_forward.calls, 1, 'the embeddings\'');
    assert.equal(forward.add_layernorm_forward.calls, 2 * 2, 'two a layer, each with its residual add');
    assert.ok(Object.values(forward).every((t) => t.ms >= 0 && t.calls > 0));
    model.loss(Int32Array.from([0, 1]));
    model.backward();
    const backward = model.takeProfile();
    assert.equal(backward.linear_backward.calls, 2 + 3 + 2);
    assert.equal(backward.ffn_backward.calls, 2);
    assert.equal(backward.linear_forward, undefined, 'taking the profile starts it afresh');
    assert.equal(backward.adam, undefined);
  });

  it('is refused for a model made without it', () => {
    const model = new EncoderClassifier(config, params);
    assert.throws(() => model.takeProfile(), /was not made with profile = true/);
  });
});
