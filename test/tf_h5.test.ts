import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadModelDir, missingMessage } from '../src/io/model_dir';
import { readSafetensors } from '../src/io/safetensors';
import { pytorchName, readTfH5, stringList, tfVariableFor } from '../src/io/tf_h5';
import { makeNewsgroupsFolder } from './fixtures';
import { sharedPath, skipUnlessShared } from './shared';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const skip = skipUnlessShared('golden', 'tf_h5', 'tf_model.h5');

describe('TensorFlow weights (tf_model.h5) vs the same model as safetensors (golden/tf_h5, golden/tiny)', { skip }, () => {
  it('every tensor maps to its PyTorch name and layout, value for value', () => {
    const tf = readTfH5(sharedPath('golden', 'tf_h5', 'tf_model.h5'));
    const pt = readSafetensors(sharedPath('golden', 'tiny', 'model.safetensors'));
    assert.deepEqual([...tf.keys()].sort(), [...pt.keys()].sort());
    for (const [name, t] of pt) {
      assert.deepEqual(tf.get(name)!.shape, t.shape, name);
      assert.deepEqual(tf.get(name)!.data, t.data, name);
    }
  });

  it('logits and predict on the folder give transformers\' logits within 1e-4', () => {
    const dir = sharedPath('golden', 'tf_h5');
    const r = spawnSync(process.execPath, [CLI, 'logits', '--model', dir, '--inputs', join(dir, 'inputs.json')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const got = (JSON.parse(r.stdout) as { logits: number[][] }).logits.flat();
    const want = readSafetensors(sharedPath('golden', 'tiny', 'forward.safetensors')).get('logits')!.data;
    assert.equal(got.length, want.length);
    const err = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
    console.log(`tf_model.h5 logits: max abs error ${err}`);
    assert.ok(err < 1e-4, `max abs error ${err}`);
    const p = spawnSync(process.execPath, [CLI, 'predict', '--model', dir, '--json', 'hello'], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
    assert.equal((JSON.parse(p.stdout) as { predictions: unknown[] }).predictions.length, 20);
  });

  it('train --init takes a TF folder', () => {
    const out = mkdtempSync(join(tmpdir(), 'runs-'));
    const r = spawnSync(process.execPath, [CLI, 'train', '--data', makeNewsgroupsFolder(), '--init', sharedPath('golden', 'tf_h5'),
      '--preset', 'small', '--max-length', '16', '--batch-size', '8', '--epochs', '1', '--no-progress', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(loadModelDir(join(out, 'model')).config.dim, 32);
  });

  it('a mis-shaped tensor names the TF variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-'));
    for (const f of ['tf_model.h5', 'vocab.txt', 'tokenizer_config.json']) writeFileSync(join(dir, f), readFileSync(sharedPath('golden', 'tf_h5', f)));
    const cfg = JSON.parse(readFileSync(sharedPath('golden', 'tf_h5', 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_dim: 48 }));
    assert.throws(() => loadModelDir(dir), /tf_model\.h5: tensor distilbert\.transformer\.layer\.0\.ffn\.lin1\.weight \(TF variable tf_distil_bert_for_sequence_classification_2\/distilbert\/transformer\/layer_\._0\/ffn\/lin1\/kernel:0\) has shape \[64,32\], config\.json implies \[48,32\]/);
  });
});

describe('TF name rules (hand-checked against transformers\' conversion)', () => {
  it('renames, transposes kernels, and joins split attribute lists', () => {
    const cases: [string, string, boolean][] = [
      ['tf_distil_bert_for_sequence_classification_2/distilbert/transformer/layer_._3/ffn/lin1/kernel:0', 'distilbert.transformer.layer.3.ffn.lin1.weight', true],
      ['tf_distil_bert_for_sequence_classification/distilbert/embeddings/position_embeddings/embeddings:0', 'distilbert.embeddings.position_embeddings.weight', false],
      ['m/distilbert/embeddings/word_embeddings/weight:0', 'distilbert.embeddings.word_embeddings.weight', false],
      ['m/distilbert/embeddings/LayerNorm/gamma:0', 'distilbert.embeddings.LayerNorm.weight', false],
      ['m/distilbert/transformer/layer_._0/sa_layer_norm/beta:0', 'distilbert.transformer.layer.0.sa_layer_norm.bias', false],
      ['model_1/pre_classifier/bias:0', 'pre_classifier.bias', false],
    ];
    for (const [tf, name, transpose] of cases) assert.deepEqual(pytorchName(tf), { name, transpose }, tf);
    assert.deepEqual(stringList({ layer_names0: ['distilbert\0\0', 'pre_classifier'], layer_names1: ['classifier\0'] }, 'layer_names', 'f'),
      ['distilbert', 'pre_classifier', 'classifier']);
    assert.throws(() => stringList({}, 'layer_names', 'f.h5'), /f\.h5: no layer_names attribute/);
    assert.equal(tfVariableFor('distilbert.transformer.layer.2.attention.q_lin.weight'), '…/distilbert/transformer/layer_._2/attention/q_lin/kernel:0');
    assert.match(missingMessage('x/tf_model.h5', ['classifier.weight', 'classifier.bias']), /missing tensor classifier\.weight \(TF variable …\/classifier\/kernel:0\) \(and 1 more\)/);
  });
});
