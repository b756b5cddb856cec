import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { loadModelDir, saveCalibration } from '../src/model/model_dir';
import { readSafetensors } from '../src/io/safetensors';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { GROUPS, makeModelDir, makeNewsgroupsFolder, makeVocab } from './fixtures';
import { sharedPath, skipUnlessShared } from './shared';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');

function exportModel(model: string, quantize = false): string {
  const out = join(mkdtempSync(join(tmpdir(), 'onnx-')), 'export');
  const r = spawnSync(process.execPath, [CLI, 'export', '--model', model, '--out', out, ...(quantize ? ['--quantize'] : [])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

/** ORT's logits for rows of token ids (each row padded with 0 to the longest, mask 1 on the ids). */
async function ortLogits(file: string, ids: number[][], mask: number[][]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(file);
  const B = ids.length;
  const S = ids[0].length;
  const t = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [B, S]);
  const out = await session.run({ input_ids: t(ids), attention_mask: t(mask) });
  return { data: out.logits.data as Float32Array, dims: out.logits.dims };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('export to ONNX: the golden tiny model', { skip: skipUnlessShared('golden', 'tiny', 'forward.safetensors') }, () => {
  const inputs = JSON.parse(readFileSync(sharedPath('golden', 'tiny', 'inputs.json'), 'utf8')) as { input_ids: number[][]; attention_mask: number[][] };
  const golden = readSafetensors(sharedPath('golden', 'tiny', 'forward.safetensors')).get('logits')!.data;
  const out = exportModel(sharedPath('golden', 'tiny'), true);

  it('onnxruntime-node gives the golden logits within 1e-4 (padded rows included)', async () => {
    const { data, dims } = await ortLogits(join(out, 'onnx', 'model.onnx'), inputs.input_ids, inputs.attention_mask);
    assert.deepEqual(dims, [4, 20]);
    const err = maxAbsDiff(data, golden);
    assert.ok(err < 1e-4, `max abs error ${err}`);
  });

  it('declares int64 input_ids / attention_mask with dynamic batch and sequence axes, output logits, opset >= 14', () => {
    const m = onnx.ModelProto.decode(readFileSync(join(out, 'onnx', 'model.onnx')));
    assert.ok(m.opsetImport.some((o) => (o.domain ?? '') === '' && Number(o.version) >= 14));
    const dims = (v: onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    assert.deepEqual(m.graph!.input!.map((v) => [v.name, v.type!.tensorType!.elemType]), [['input_ids', onnx.TensorProto.DataType.INT64], ['attention_mask', onnx.TensorProto.DataType.INT64]]);
    for (const v of m.graph!.input!) assert.deepEqual(dims(v), ['batch_size', 'sequence_length']);
    assert.deepEqual(m.graph!.output!.map((v) => [v.name, dims(v)]), [['logits', ['batch_size', 20]]]);
  });

  it('the quantized model holds its matrices as int8 and stays near the fp32 logits', async () => {
    const q = onnx.ModelProto.decode(readFileSync(join(out, 'onnx', 'model_quantized.onnx')));
    const init = new Map(q.graph!.initializer!.map((t) => [t.name!, t]));
    const matmuls = q.graph!.node!.filter((n) => n.opType === 'MatMul' || n.opType === 'MatMulInteger');
    // Attention's two products multiply activations; every product with a weight is integer.
    for (const n of matmuls.filter((n) => n.input!.some((i) => init.has(i)))) {
      assert.equal(n.opType, 'MatMulInteger', n.name!);
      assert.equal(init.get(n.input![1])!.dataType, onnx.TensorProto.DataType.INT8);
    }
    assert.equal(matmuls.filter((n) => n.opType === 'MatMulInteger').length, 2 * 6 + 2, 'six per layer, two in the head');
    const ratio = statSync(join(out, 'onnx', 'model_quantized.onnx')).size / statSync(join(out, 'onnx', 'model.onnx')).size;
    assert.ok(ratio < 0.35, `quantized / fp32 size ${ratio.toFixed(2)}`);
    const { data } = await ortLogits(join(out, 'onnx', 'model_quantized.onnx'), inputs.input_ids, inputs.attention_mask);
    assert.ok(maxAbsDiff(data, golden) < 5e-3, `quantized max abs error ${maxAbsDiff(data, golden)}`);
  });
});

describe('export to ONNX: activations and errors', () => {
  for (const activation of ['relu', 'gelu_new']) {
    it(`${activation}: onnxruntime-node equals the engine's logits within 1e-4`, async () => {
      const dir = makeModelDir(32, { activation });
      const ids = [[2, 5, 6, 7, 3, 0, 0], [2, 8, 9, 10, 11, 12, 3]];
      const mask = ids.map((r, i) => r.map((_, j) => (i === 0 && j >= 5 ? 0 : 1)));
      const m = loadModelDir(dir);
      const engine = new EncoderClassifier(m.config, m.params).forward(Int32Array.from(ids.flat()), Int32Array.from(mask.flat()), 2, 7, { grad: false });
      const { data } = await ortLogits(join(exportModel(dir), 'onnx', 'model.onnx'), ids, mask);
      assert.ok(maxAbsDiff(data, engine) < 1e-4, `max abs error ${maxAbsDiff(data, engine)}`);
    });
  }

  it('a missing model or an output path that is a file is one clear error line and exit code 1', () => {
    const missing = spawnSync(process.execPath, [CLI, 'export', '--model', '/nonexistent/model', '--out', join(tmpdir(), 'x')], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^bert-20news: error: .*\/nonexistent\/model/);
    const file = join(mkdtempSync(join(tmpdir(), 'onnx-')), 'file');
    writeFileSync(file, 'x');
    const r = spawnSync(process.execPath, [CLI, 'export', '--model', makeModelDir(), '--out', file], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

describe('export to ONNX: transformers.js runs a trained model', () => {
  it("pipeline('text-classification') gives predict --json's labels and scores (fp32 within 1e-4; int8 the same top label)", async () => {
    const run = join(mkdtempSync(join(tmpdir(), 'runs-')), 'run');
    const train = spawnSync(process.execPath, [CLI, 'train', '--data', makeNewsgroupsFolder(), '--init', 'scratch', '--vocab', makeVocab(), '--preset', 'small',
      '--layers', '1', '--dim', '32', '--heads', '4', '--ffn', '64', '--max-length', '32', '--batch-size', '8', '--epochs', '60', '--lr', '2e-3',
      '--no-progress', '--out', run], { encoding: 'utf8' });
    assert.equal(train.status, 0, train.stderr);
    // A temperature in the folder: predict applies it, the export folds it into the classifier.
    saveCalibration(join(run, 'model'), { transformer: 1.7, fittedOn: 'a value chosen by the test' });
    const out = exportModel(join(run, 'model'), true);
    // Posts as the fixture writes them (a model this small knows its topic words where they stand in
    // its training posts: this recipe learns them at 160 of 160 seeds), and one without a topic word.
    const post = (word: string) => `From: user0@example.com\nSubject: post 0\n\n${word} a is ${word} of to`;
    const texts = [...['god', 'pixel', 'engine', 'orbit'].map(post), 'a post with no topic word'];
    const ours = spawnSync(process.execPath, [CLI, 'predict', '--model', join(run, 'model'), '--json', ...texts], { encoding: 'utf8' });
    assert.equal(ours.status, 0, ours.stderr);
    const expected = ours.stdout.trim().split('\n').map((l) => JSON.parse(l).predictions as { label: string; score: number }[]);
    assert.deepEqual(expected.slice(0, 4).map((p) => p[0].label), GROUPS, 'the trained model knows its topic words');

    const { pipeline, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = dirname(out);
    for (const dtype of ['fp32', 'q8'] as const) {
      const classify = await pipeline('text-classification', basename(out), { dtype });
      const got = (await classify(texts, { top_k: GROUPS.length })) as unknown as { label: string; score: number }[][];
      got.forEach((ranked, i) => {
        // int8 moves scores a little: its top label is compared where the model is sure (the topic texts).
        if (dtype === 'q8' && i >= GROUPS.length) return;
        assert.equal(ranked[0].label, expected[i][0].label, `${dtype} text ${i}`);
        if (dtype === 'fp32') {
          for (const p of ranked) assert.ok(Math.abs(p.score - expected[i].find((e) => e.label === p.label)!.score) < 1e-4, `${p.label} ${p.score}`);
        }
      });
      await classify.dispose();
    }
  });
});
