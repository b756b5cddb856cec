import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadModelDir } from '../src/model/model_dir';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { GROUPS, makeNewsgroupsFolder, makeVocab } from './fixtures';
import { sharedPath, skipUnlessShared } from './shared';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const data = makeNewsgroupsFolder();
const vocab = makeVocab();
const trainArgs = (out: string) => [CLI, 'train', '--data', data, '--init', 'scratch', '--vocab', vocab, '--preset', 'small',
  '--layers', '1', '--dim', '16', '--heads', '2', '--ffn', '32', '--max-length', '16', '--batch-size', '4', '--epochs', '12',
  '--lr', '1e-2', '--no-progress', '--out', out];

function waitExit(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
}

describe('train command', () => {
  it('trains, writes a model folder our loader reads, and Ctrl-C + --resume equals an uninterrupted run bit for bit', async () => {
    const root = mkdtempSync(join(tmpdir(), 'runs-'));
    const full = join(root, 'full');
    const a = spawnSync(process.execPath, trainArgs(full), { encoding: 'utf8' });
    assert.equal(a.status, 0, a.stderr);
    const rows = a.stdout.trim().split('\n');
    assert.match(rows[0], /Train Loss \| Train Accuracy \| Validation Loss \| Validation Accuracy \| Epoch/);
    assert.equal(rows.length, 2 + 12, 'header, separator and one row per epoch');
    for (const f of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'README.md']) {
      assert.ok(existsSync(join(full, 'model', f)), f);
    }
    const m = loadModelDir(join(full, 'model'));
    assert.deepEqual(m.config.id2label, GROUPS);
    assert.equal(m.tokenizer.modelMaxLength, 16, 'predict and serve default to the training length');
    assert.match(readFileSync(join(full, 'model', 'README.md'), 'utf8'), /\| 11 \|/);

    // Interrupted after the first epoch's row, then resumed.
    const part = join(root, 'part');
    const child = spawn(process.execPath, trainArgs(part), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('| 0 |')) child.kill('SIGINT');
    });
    assert.equal(await waitExit(child), 130, 'Ctrl-C exits with 130 after saving');
    assert.ok(!existsSync(join(part, 'model', 'model.safetensors')), 'not finished yet');
    const b = spawnSync(process.execPath, [CLI, 'train', '--out', part, '--resume', '--no-progress'], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    assert.ok(readFileSync(join(part, 'model', 'model.safetensors')).equals(readFileSync(join(full, 'model', 'model.safetensors'))),
      'resumed weights equal the uninterrupted run byte for byte');
  });

  it('refuses to overwrite a run and says how to resume; offline data download names --data', () => {
    const out = mkdtempSync(join(tmpdir(), 'runs-'));
    spawnSync(process.execPath, [...trainArgs(out), '--epochs', '1'], { encoding: 'utf8' });
    const again = spawnSync(process.execPath, [...trainArgs(out), '--epochs', '1'], { encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already holds a run: add --resume/);
    const noData = spawnSync(process.execPath, [CLI, 'train', '--init', 'scratch', '--vocab', vocab, '--out', join(out, 'x')],
      { encoding: 'utf8', env: { ...process.env, BERT20NEWS_CACHE: mkdtempSync(join(tmpdir(), 'cache-')), BERT20NEWS_DATA_URL: 'http://127.0.0.1:9/20news-bydate.tar.gz' } });
    assert.equal(noData.status, 1);
    assert.match(noData.stderr, /cannot download http:\/\/127\.0\.0\.1:9\/20news-bydate\.tar\.gz .*give a local copy with --data/);
  });
});

describe('train: calibration', () => {
  it('--calibrate-on-validation fits the temperature on the validation part and says so; contradictory flags are one line', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'runs-')), 'run');
    const r = spawnSync(process.execPath, [...trainArgs(out), '--epochs', '2', '--calibrate-on-validation'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const cal = JSON.parse(readFileSync(join(out, 'model', 'calibration.json'), 'utf8'));
    // 96 posts, card split: floor(9.6) = 9 for validation.
    assert.equal(cal.fitted_on, "the 9 validation texts (evaluate's calibration figures on them are not held out)");
    assert.ok(cal.temperature.transformer > 0 && cal.temperature.hybrid === undefined);
    assert.match(r.stderr, /calibration: temperature [0-9.]+ fitted on the 9 validation texts/);
    for (const [flags, message] of [[['--hybrid', '--calibration-fraction', '0.1'], /a --hybrid run fits its temperatures on the texts it holds out/],
      [['--calibration-fraction', '0.1', '--calibrate-on-validation'], /choose one/]] as const) {
      const bad = spawnSync(process.execPath, [...trainArgs(join(out, 'x')), ...flags], { encoding: 'utf8' });
      assert.equal(bad.status, 1);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
      assert.match(bad.stderr, message);
      assert.ok(!existsSync(join(out, 'x')), 'a refused run leaves no folder');
    }
  });
});

describe('train --init <pretrained folder>', { skip: skipUnlessShared('golden', 'tiny', 'model.safetensors') }, () => {
  it('keeps the pretrained body and pre_classifier, re-initializes a classifier of another label count, and trains', () => {
    const out = mkdtempSync(join(tmpdir(), 'runs-'));
    const r = spawnSync(process.execPath, [CLI, 'train', '--data', data, '--init', sharedPath('golden', 'tiny'), '--preset', 'small',
      '--max-length', '16', '--batch-size', '8', '--epochs', '1', '--no-progress', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // 20 labels in the folder, 4 groups in the data: only the classifier's shape differs.
    assert.match(r.stderr, /^initialized classifier\.weight, classifier\.bias \(normal\(0, 0\.02\), zero bias\)$/m);
    const m = loadModelDir(join(out, 'model'));
    assert.deepEqual(m.config.id2label, GROUPS);
    assert.equal(m.config.dim, 32, 'the architecture comes from the pretrained folder, not the preset');
    assert.equal(m.config.nLayers, 2);
  });
});

describe('train --init with checkpoints as the hub holds them', { skip: skipUnlessShared('golden', 'mlm', 'model.safetensors') }, () => {
  /** A model folder from golden/mlm's config and weights (renamed by `rename`) with the fixture's vocabulary. */
  const folder = (rename: (name: string) => string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    writeFileSync(join(dir, 'config.json'), readFileSync(sharedPath('golden', 'mlm', 'config.json')));
    writeFileSync(join(dir, 'vocab.txt'), readFileSync(vocab));
    const tensors = readSafetensors(sharedPath('golden', 'mlm', 'model.safetensors'));
    writeSafetensors(join(dir, 'model.safetensors'), [...tensors].map(([name, t]) => ({ name: rename(name), shape: t.shape, data: t.data })));
    return dir;
  };
  const train = (init: string) => spawnSync(process.execPath, [CLI, 'train', '--data', data, '--init', init, '--preset', 'small',
    '--max-length', '16', '--batch-size', '8', '--epochs', '1', '--no-progress', '--out', mkdtempSync(join(tmpdir(), 'runs-'))], { encoding: 'utf8' });

  it('a DistilBertForMaskedLM checkpoint: the MLM head reported unused, the classification head initialized', () => {
    const r = train(folder((n) => n));
    assert.equal(r.status, 0, r.stderr);
    const unused = /^not used from .*model\.safetensors: (.*)$/m.exec(r.stderr);
    assert.ok(unused, r.stderr);
    assert.deepEqual(unused[1].split(', ').sort(),
      ['vocab_layer_norm.bias', 'vocab_layer_norm.weight', 'vocab_projector.bias', 'vocab_transform.bias', 'vocab_transform.weight']);
    assert.match(r.stderr, /^initialized pre_classifier\.weight, pre_classifier\.bias, classifier\.weight, classifier\.bias /m);
  });

  it('a bare DistilBertModel checkpoint (names without distilbert.)', () => {
    const r = train(folder((n) => n.replace(/^distilbert\./, '')));
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /not used from .*embeddings/);
  });
});
