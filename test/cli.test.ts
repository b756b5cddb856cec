import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { makeModelDir } from './fixtures';
import { sharedPath, skipUnlessShared } from './shared';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const run = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input });
const tiny = sharedPath('golden', 'tiny');
const skip = skipUnlessShared('golden', 'tiny', 'forward.safetensors');

describe('CLI on the golden tiny model', { skip }, () => {
  it('logits matches the golden logits within 1e-4', () => {
    const r = run(['logits', '--model', tiny, '--inputs', join(tiny, 'inputs.json')]);
    assert.equal(r.status, 0, r.stderr);
    const got = (JSON.parse(r.stdout) as { logits: number[][] }).logits.flat();
    const want = readSafetensors(join(tiny, 'forward.safetensors')).get('logits')!.data;
    assert.equal(got.length, want.length);
    assert.ok(got.every((x, i) => Math.abs(x - want[i]) < 1e-4));
  });

  it('predict ranks 20 labels whose probabilities sum to 1, and flags truncation', () => {
    const r = run(['predict', '--model', tiny, '--json', 'hello world', 'word '.repeat(600)]);
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.predictions.length, 20);
      const sum = row.predictions.reduce((s: number, p: { score: number }) => s + p.score, 0);
      assert.ok(Math.abs(sum - 1) < 1e-9, `sum ${sum}`);
      assert.ok(row.predictions.every((p: { score: number }, i: number) => i === 0 || row.predictions[i - 1].score >= p.score));
    }
    assert.equal(rows[0].truncated, false);
    assert.equal(rows[1].truncated, true);
    assert.equal(rows[1].tokens, 512);
    const text = run(['predict', '--model', tiny, '--top-k', '3'], 'first text\nsecond text\n');
    assert.equal(text.status, 0, text.stderr);
    assert.equal(text.stdout.trim().split('\n').length, 2 * 4, 'stdin: one text per line, 3 labels each');
  });

  it('a corrupt model.safetensors gives one clear line and exit code 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-'));
    for (const f of ['config.json', 'vocab.txt', 'tokenizer_config.json']) copyFileSync(join(tiny, f), join(dir, f));
    const bytes = readFileSync(join(tiny, 'model.safetensors'));
    writeFileSync(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    const r = run(['predict', '--model', dir, 'hello']);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^bert-20news: error: .*model\.safetensors: truncated: tensor \S+ ends at byte/);
  });

  it('bad inputs to logits are an error, not a crash', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'in-')), 'in.json');
    writeFileSync(f, JSON.stringify({ input_ids: [[101, 99999, 102]] }));
    const r = run(['logits', '--model', tiny, '--inputs', f]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /input id 99999 at position 1 is outside the vocabulary/);
    for (const [body, message] of [['null', /in\.json: must be a JSON object with input_ids/], ['{"input_ids": [[]]}', /in\.json: input_ids must be a non-empty array of non-empty rows/]] as const) {
      writeFileSync(f, body);
      const e = run(['logits', '--model', tiny, '--inputs', f]);
      assert.equal(e.status, 1);
      assert.match(e.stderr.trim(), message);
      assert.equal(e.stderr.trim().split('\n').length, 1);
    }
  });
});

describe('--device', () => {
  it('takes cpu, cuda and cuda:N, and refuses anything else in one line before any work', () => {
    for (const device of ['gpu', 'cuda:', 'cuda:01', 'cuda:-1', 'CUDA', 'cuda:1 ']) {
      const r = run(['predict', '--model', '/nonexistent', '--device', device, 'text']);
      assert.equal(r.status, 1);
      assert.equal(r.stderr.trim(), `error: option '--device <name>' argument '${device}' is invalid. must be cpu, cuda or cuda:N (N: the GPU's index)`);
    }
    // A valid name passes the option parser: the missing model is what fails.
    const r = run(['predict', '--model', '/nonexistent', '--device', 'cuda:12', 'text']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\/nonexistent is neither a folder nor a Hugging Face model id/);
  });
});

describe('tokenize CLI', { skip: skipUnlessShared('vocab', 'bert-base-uncased-vocab.txt') }, () => {
  it('JSON Lines in, ids out, in order, with --max-length and --no-special-tokens', () => {
    const vocab = sharedPath('vocab', 'bert-base-uncased-vocab.txt');
    const input = '{"text": "Hello, world!"}\n{"text": "HELLO WORLD"}\n';
    const r = run(['tokenize', '--vocab', vocab], input);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l).ids), [[101, 7592, 1010, 2088, 999, 102], [101, 7592, 2088, 102]]);
    const s = run(['tokenize', '--vocab', vocab, '--max-length', '3', '--no-special-tokens'], input);
    assert.deepEqual(s.stdout.trim().split('\n').map((l) => JSON.parse(l).ids), [[7592, 1010, 2088], [7592, 2088]]);
    const bad = run(['tokenize', '--vocab', vocab], '{"txt": 1}\n');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /stdin line 1: needs a "text" string/);
  });
});

describe('long texts', () => {
  it('a 30 MB single-line text: predict reads its first 1,000,000 characters in every part, flags it, and echoes 1,000 (in a 200 MB heap)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'long-'));
    const file = join(dir, 'one-line.txt');
    writeFileSync(file, 'the orbit of the engine '.repeat(1_250_000));
    const r = spawnSync(process.execPath, ['--max-old-space-size=200', CLI, 'predict', '--model', makeModelDir(64), '--json', '--top-k', '1', '--file', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(0, 500));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.ok(r.stdout.length < 10_000, `${r.stdout.length} bytes of output`);
    const j = JSON.parse(lines[0]) as { text: string; chars: number; cut: boolean; truncated: boolean; tokens: number };
    assert.equal(j.text, 'the orbit of the engine '.repeat(42).slice(0, 1000));
    assert.equal(j.chars, 30_000_000);
    assert.equal(j.cut, true);
    assert.equal(j.truncated, true);
    assert.equal(j.tokens, 64);
    const short = run(['predict', '--model', makeModelDir(64), '--json', '--max-text-chars', '9', 'the orbit of the engine']);
    assert.equal((JSON.parse(short.stdout) as { cut: boolean }).cut, true, '--max-text-chars sets the cap');
  });
});

describe('logits of the golden BERT (token_type_ids), from each weights layout', { skip: skipUnlessShared('golden', 'bert', 'single', 'pytorch_model.bin') }, () => {
  const golden = sharedPath('golden', 'bert', 'single');
  const want = readSafetensors(join(golden, 'forward.safetensors')).get('logits')!.data;
  /** A model folder of the golden BERT: its config, a 512-token vocab, and the weights `files` writes. */
  const folder = (files: (dir: string) => void): string => {
    const dir = mkdtempSync(join(tmpdir(), 'bert-'));
    copyFileSync(join(golden, 'config.json'), join(dir, 'config.json'));
    writeFileSync(join(dir, 'vocab.txt'), Array.from({ length: 512 }, (_, i) => ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'][i] ?? `t${i}`).join('\n') + '\n');
    files(dir);
    return dir;
  };
  const tensors = readSafetensors(join(golden, 'model.safetensors'));
  const names = [...tensors.keys()];
  const layouts: [string, (dir: string) => void][] = [
    ['model.safetensors', (d) => copyFileSync(join(golden, 'model.safetensors'), join(d, 'model.safetensors'))],
    ['pytorch_model.bin alone', (d) => copyFileSync(join(golden, 'pytorch_model.bin'), join(d, 'pytorch_model.bin'))],
    ['two safetensors shards and their index', (d) => {
      const half = Math.floor(names.length / 2);
      const shards = [names.slice(0, half), names.slice(half)];
      const map: Record<string, string> = {};
      shards.forEach((part, k) => {
        const file = `model-0000${k + 1}-of-00002.safetensors`;
        writeSafetensors(join(d, file), part.map((n) => ({ name: n, shape: tensors.get(n)!.shape, data: tensors.get(n)!.data })));
        for (const n of part) map[n] = file;
      });
      writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
    }],
    ['a pytorch_model.bin shard and its index', (d) => {
      copyFileSync(join(golden, 'pytorch_model.bin'), join(d, 'pytorch_model-00001-of-00001.bin'));
      writeFileSync(join(d, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: Object.fromEntries(names.map((n) => [n, 'pytorch_model-00001-of-00001.bin'])) }));
    }],
  ];
  for (const [name, files] of layouts) {
    it(`${name}: logits --inputs with token_type_ids gives the golden logits within 1e-4`, () => {
      const r = run(['logits', '--model', folder(files), '--inputs', join(golden, 'inputs.json')]);
      assert.equal(r.status, 0, r.stderr);
      const got = (JSON.parse(r.stdout) as { logits: number[][] }).logits.flat();
      assert.equal(got.length, want.length);
      got.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-4, `logit ${i}: ${x} vs ${want[i]}`));
    });
  }

  it('refuses a shard index naming a file outside the folder, and token types on a DistilBERT', () => {
    const dir = folder((d) => writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../../etc/passwd.safetensors' } })));
    const r = run(['logits', '--model', dir, '--inputs', join(golden, 'inputs.json')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /model\.safetensors\.index\.json: shard "\.\.\/\.\.\/etc\/passwd\.safetensors" is not a \.safetensors file name in the model folder/);
    const d = run(['logits', '--model', makeModelDir(32), '--inputs', join(golden, 'inputs.json')]);
    assert.equal(d.status, 1);
    assert.match(d.stderr, /token_type_ids given, but distilbert has no token types/);
  });
});
