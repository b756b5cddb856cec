import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadModelDir, missingMessage } from '../src/model/model_dir';
import { readSafetensors } from '../src/io/safetensors';
import { pytorchName, readTfH5, stringList, tfVariableFor } from '../src/io/tf_h5';
import { makeModelDir, makeNewsgroupsFolder } from './fixtures';
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

/** h5wasm is ESM-only; TypeScript's CommonJS output would turn import() into require(). */
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<typeof import('h5wasm')>;

/**
 * The TF variable Keras 2 names for a PyTorch parameter of TFDistilBertForSequenceClassification,
 * with the Keras layer it belongs to: written here from transformers' TF modeling code, and
 * checked below against the golden file's own names before it is used for another configuration.
 */
function kerasVariable(pt: string, modelName: string): { layer: string; variable: string; transpose: boolean } {
  const parts = pt.split('.');
  const n = parts.indexOf('layer');
  if (n >= 0) parts.splice(n, 2, `layer_._${parts[n + 1]}`);
  const owner = parts[parts.length - 2];
  const last = parts[parts.length - 1];
  let leaf = last;
  let transpose = false;
  if (owner === 'LayerNorm' || owner.endsWith('layer_norm')) leaf = last === 'weight' ? 'gamma' : 'beta';
  else if (owner === 'position_embeddings') leaf = 'embeddings';
  else if (owner !== 'word_embeddings' && last === 'weight') [leaf, transpose] = ['kernel', true];
  parts[parts.length - 1] = leaf;
  return { layer: parts[0], variable: `${modelName}/${parts.join('/')}:0`, transpose };
}

describe('TensorFlow weights of another configuration (written with h5wasm as Keras lays them out)', { skip }, () => {
  it('the writer\'s names are the golden file\'s names', () => {
    const tf = readTfH5(sharedPath('golden', 'tf_h5', 'tf_model.h5'));
    for (const [name, t] of tf) assert.equal(kerasVariable(name, 'tf_distil_bert_for_sequence_classification_2').variable, t.origin, name);
  });

  /** A TF folder of `src`'s weights as Keras lays them out, each dataset's data as `store` gives it. */
  async function writeKeras(src: string, store: (variable: string, data: Float32Array) => Float32Array | Float64Array | Int32Array = (_, d) => d): Promise<string> {
    const h5 = await importEsm('h5wasm/node');
    await h5.ready;
    const model = loadModelDir(src);
    const dir = mkdtempSync(join(tmpdir(), 'tf-'));
    for (const f of ['config.json', 'vocab.txt', 'tokenizer_config.json']) writeFileSync(join(dir, f), readFileSync(join(src, f)));
    const file = new h5.File(join(dir, 'tf_model.h5'), 'w');
    const modelName = 'tf_distil_bert_for_sequence_classification_7';
    const byLayer = new Map<string, { variable: string; shape: number[]; data: Float32Array }[]>();
    for (const t of model.params.tensors()) {
      const { layer, variable, transpose } = kerasVariable(t.name, modelName);
      const [r, c] = t.shape;
      const data = transpose ? Float32Array.from({ length: t.data.length }, (_, k) => t.data[(k % r) * c + Math.floor(k / r)]) : t.data;
      byLayer.set(layer, [...(byLayer.get(layer) ?? []), { variable, shape: transpose ? [c, r] : t.shape, data }]);
    }
    // Keras splits a long layer_names into layer_names0, layer_names1, ...: written split here.
    const layers = [...byLayer.keys(), 'dropout_59'];
    file.create_attribute('layer_names0', layers.slice(0, 2));
    file.create_attribute('layer_names1', layers.slice(2));
    file.create_attribute('backend', 'tensorflow');
    for (const layer of layers) {
      const weights = byLayer.get(layer) ?? [];
      const group = file.create_group(layer);
      // A layer without weights (dropout) still lists them, as an empty list.
      group.create_attribute('weight_names', weights.map((w) => w.variable), [weights.length]);
      for (const w of weights) {
        const path = w.variable.split('/');
        for (let k = 1; k < path.length; k++) {
          const g = [layer, ...path.slice(0, k)].join('/');
          if (!file.get(g)) file.create_group(g);
        }
        (file.get([layer, ...path.slice(0, -1)].join('/')) as InstanceType<typeof h5.Group>).create_dataset({ name: path[path.length - 1], data: store(w.variable, w.data), shape: w.shape });
      }
    }
    file.close();
    return dir;
  }

  it('3 layers, dim 24, 3 heads, relu, 5 labels, split layer_names: every tensor and the logits equal the safetensors copy', async () => {
    const src = makeModelDir(48, { n_layers: 3, dim: 24, n_heads: 3, hidden_dim: 40, activation: 'relu', id2label: { 0: 'a', 1: 'b', 2: 'c', 3: 'd', 4: 'e' } });
    const model = loadModelDir(src);
    const dir = await writeKeras(src);
    const loaded = loadModelDir(dir);
    assert.equal(loaded.config.nLayers, 3);
    for (const t of model.params.tensors()) assert.deepEqual(loaded.params.get(t.name), t.data, t.name);
    const inputs = join(dir, 'inputs.json');
    writeFileSync(inputs, JSON.stringify({ input_ids: [[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]], attention_mask: [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]] }));
    const logits = (model: string) => {
      const r = spawnSync(process.execPath, [CLI, 'logits', '--model', model, '--inputs', inputs], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { logits: number[][] }).logits;
    };
    const want = logits(src);
    assert.equal(want[0].length, 5);
    assert.deepEqual(logits(dir), want);
  });

  it('float64 datasets load as the same values; an integer dataset is refused naming its TF variable, by predict and export alike', async () => {
    const src = makeModelDir(32);
    const model = loadModelDir(src);
    const f64 = loadModelDir(await writeKeras(src, (_, d) => Float64Array.from(d)));
    for (const t of model.params.tensors()) assert.deepEqual(f64.params.get(t.name), t.data, t.name);
    const ints = await writeKeras(src, (v, d) => (v.endsWith('pre_classifier/bias:0') ? Int32Array.from(d, (x) => Math.round(x * 1e6)) : d));
    for (const command of [['predict', '--model', ints, 'god'], ['export', '--model', ints, '--out', join(ints, 'onnx-out')]]) {
      const r = spawnSync(process.execPath, [CLI, ...command], { encoding: 'utf8' });
      assert.equal(r.status, 1, command[0]);
      assert.match(r.stderr.trim(), /tf_model\.h5: TF variable .*\/pre_classifier\/bias:0 is stored as "<i4", not as little-endian floats \(F16, F32, F64\): refused$/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
