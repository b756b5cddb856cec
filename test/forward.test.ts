import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadModelDir } from '../src/model/model_dir';
import { readSafetensors } from '../src/io/safetensors';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { sharedPath, skipUnlessShared } from './shared';

const skip = skipUnlessShared('golden', 'tiny', 'forward.safetensors');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same number of values');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('DistilBERT forward pass vs transformers (golden/tiny)', { skip }, () => {
  it('logits and every hidden state, padded positions included, within 1e-4', () => {
    const m = loadModelDir(sharedPath('golden', 'tiny'));
    const inputs = JSON.parse(readFileSync(sharedPath('golden', 'tiny', 'inputs.json'), 'utf8')) as { input_ids: number[][]; attention_mask: number[][] };
    const B = inputs.input_ids.length, T = inputs.input_ids[0].length;
    const model = new EncoderClassifier(m.config, m.params);
    const ids = Int32Array.from(inputs.input_ids.flat()), mask = Int32Array.from(inputs.attention_mask.flat());
    const logits = Float32Array.from(model.forward(ids, mask, B, T, { allHiddenStates: true }));
    const golden = readSafetensors(sharedPath('golden', 'tiny', 'forward.safetensors'));
    const errs: Record<string, number> = { logits: maxAbsDiff(logits, golden.get('logits')!.data) };
    model.hiddenStates().forEach((h, i) => (errs[`hidden_states.${i}`] = maxAbsDiff(h, golden.get(`hidden_states.${i}`)!.data)));
    assert.equal(Object.keys(errs).length, 1 + m.config.nLayers + 1);
    console.log('max abs error vs golden:', JSON.stringify(errs));
    for (const [k, e] of Object.entries(errs)) assert.ok(e < 1e-4, `${k}: max abs error ${e}`);
    // The default path computes the last layer at [CLS] only: the same logits.
    const cls = model.forward(ids, mask, B, T);
    assert.ok(maxAbsDiff(cls, logits) < 1e-6, `[CLS]-only last layer: ${maxAbsDiff(cls, logits)}`);
  });
});
