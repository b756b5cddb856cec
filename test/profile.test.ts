import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardFlops, higherPeaks, productFlops } from '../src/bench/cases';
import { formatProfile, ProfileResult } from '../src/bench/profile';
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

describe('bench: the measured GEMM peaks', () => {
  it('are each kind\'s higher figure of the measurements before and after the cases; bf16 stays absent where either lacks it', () => {
    assert.deepEqual(higherPeaks({ fp32: 300, bf16: 2100, openblas: 350 }, { fp32: 320, bf16: 1900, openblas: 340 }), { fp32: 320, bf16: 2100, openblas: 350 });
    assert.deepEqual(higherPeaks({ fp32: 300, bf16: null, openblas: 350 }, { fp32: 290, bf16: null, openblas: 360 }), { fp32: 300, bf16: null, openblas: 360 });
  });
});

describe('bench --profile: the products\' rate', () => {
  it('splits a forward\'s FLOPs into the linear layers\' and attention\'s (hand-counted at distilbert-base, 1 x 128, [CLS]-only last layer)', () => {
    // Full layer: 128 x 2 x (4 x 768^2 + 2 x 768 x 3072) linear, 4 x 128^2 x 768 attention; the last
    // layer: keys and values for 128 tokens, q, output and FFN for one row, one query's attention.
    const f = productFlops(1, 128);
    assert.equal(f.linear, 5 * 1_811_939_328 + 301_989_888 + 11_796_480);
    assert.equal(f.attention, 5 * 50_331_648 + 393_216);
    assert.equal(forwardFlops(1, 128), f.linear + f.attention);
    assert.equal(productFlops(8, 512).attention, 8 * (5 * 4 * 512 * 512 * 768 + 4 * 512 * 768));
  });

  it('prints each product family\'s GFLOP/s by phase and its share of the measured peak', () => {
    const r: ProfileResult = {
      case: 'train_8x512', precision: 'bf16', totalMs: 1000, outsideProducts: 0.1,
      ms: { forward: { 'linear layers': 250, attention: 50 }, backward: { 'linear layers': 500, attention: 100 }, optimizer: { optimizer: 100 } },
      gflops: { forward: { 'linear layers': 1200, attention: 300 }, backward: { 'linear layers': 1000, attention: 360 } },
      gemmPeak: 2000,
    };
    const last = formatProfile(r).split('\n').pop();
    assert.equal(last, 'products, GFLOP/s, share of the measured bf16 GEMM peak (2000): linear layers forward 1200 (60%); attention forward 300 (15%); linear layers backward 1000 (50%); attention backward 360 (18%)');
  });
});
