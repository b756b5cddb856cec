import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Random } from '../src/data/random';
import { readSafetensors } from '../src/io/safetensors';
import { maskSequence, MaskingVocab } from '../src/pretrain/masking';
import { textWindows } from '../src/pretrain/windows';
import { BertTokenizer } from '../src/tokenizer';
import { makeNewsgroupsFolder, makeVocab } from './fixtures';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');

// ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK]; 10-12 are ## pieces.
const VOCAB: MaskingVocab = { size: 20, maskId: 4, special: new Set([0, 2, 3]), continuation: Uint8Array.from({ length: 20 }, (_, i) => (i >= 10 && i <= 12 ? 1 : 0)) };

describe('dynamic masking', () => {
  it('predicts 15% of the ordinary tokens, 80% of them as [MASK], 10% random, 10% kept; never a special token', () => {
    const rng = new Random(1);
    const seq = [2, ...Array.from({ length: 200 }, (_, i) => 5 + (i % 5)), 3, 0, 0];
    let predicted = 0, masked = 0, kept = 0, total = 0;
    for (let r = 0; r < 200; r++) {
      const m = maskSequence(seq, VOCAB, { probability: 0.15, wholeWord: false }, rng);
      total += 200;
      predicted += m.positions.length;
      m.positions.forEach((p, k) => {
        assert.ok(!VOCAB.special.has(seq[p]), 'specials are never predicted');
        assert.equal(m.labels[k], seq[p], 'the label is the original token');
        if (m.ids[p] === 4) masked++;
        else if (m.ids[p] === seq[p]) kept++;
      });
      // Positions not predicted are untouched.
      m.ids.forEach((id, p) => assert.ok(m.positions.includes(p) || id === seq[p]));
      assert.deepEqual([...m.positions].sort((a, b) => a - b), m.positions, 'increasing');
    }
    // 40,000 draws: the shares are within a few standard deviations of 15%, 80% and ~10% (+ 1/20 of random draws that hit the original).
    assert.ok(Math.abs(predicted / total - 0.15) < 0.006, `predicted share ${predicted / total}`);
    assert.ok(Math.abs(masked / predicted - 0.8) < 0.02, `[MASK] share ${masked / predicted}`);
    assert.ok(Math.abs(kept / predicted - 0.105) < 0.02, `kept share ${kept / predicted}`);
  });

  it('whole words: a token and its ## pieces are predicted together', () => {
    const rng = new Random(2);
    // Words: [5], [6 10 11], [7 12], [8]: positions 1 | 2 3 4 | 5 6 | 7.
    const seq = [2, 5, 6, 10, 11, 7, 12, 8, 3];
    for (let r = 0; r < 300; r++) {
      const p = new Set(maskSequence(seq, VOCAB, { probability: 0.3, wholeWord: true }, rng).positions);
      for (const word of [[2, 3, 4], [5, 6]]) assert.ok(word.every((i) => p.has(i)) || word.every((i) => !p.has(i)), `word ${word} split: ${[...p]}`);
    }
  });

  it('at least one prediction per sequence with a token to predict; the same seed gives the same masks', () => {
    const seq = [2, 5, 3];
    for (let s = 0; s < 50; s++) assert.deepEqual(maskSequence(seq, VOCAB, { probability: 0.15, wholeWord: false }, new Random(s)).positions, [1]);
    const a = maskSequence([2, 5, 6, 7, 8, 9, 3], VOCAB, { probability: 0.5, wholeWord: false }, Random.derive(7, 1, 3));
    assert.deepEqual(maskSequence([2, 5, 6, 7, 8, 9, 3], VOCAB, { probability: 0.5, wholeWord: false }, Random.derive(7, 1, 3)), a);
  });
});

describe('pretraining windows', () => {
  it('cuts a text into consecutive windows of maxLength - 2 tokens, each [CLS] ... [SEP], at most N from the start', () => {
    const tokens = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    assert.deepEqual(textWindows(tokens, 6, 3, 2, 3), [[2, 10, 11, 12, 13, 3], [2, 14, 15, 16, 17, 3], [2, 18, 19, 3]]);
    assert.deepEqual(textWindows(tokens, 6, 2, 2, 3), [[2, 10, 11, 12, 13, 3], [2, 14, 15, 16, 17, 3]]);
    assert.deepEqual(textWindows(tokens.slice(0, 8), 6, 5, 2, 3), [[2, 10, 11, 12, 13, 3], [2, 14, 15, 16, 17, 3]], 'no empty window after an exact fit');
    assert.deepEqual(textWindows([], 6, 3, 2, 3), [[2, 3]], 'an empty text is one [CLS] [SEP]');
    assert.throws(() => textWindows(tokens, 2, 1, 2, 3), /max length 2 leaves no room/);
    assert.throws(() => textWindows(tokens, 6, 0, 2, 3), /windows must be a whole number >= 1/);
  });

  it('one window is the text as the classifier reads it: encode with truncation', () => {
    const tokenizer = BertTokenizer.load(makeVocab());
    for (const text of ['', 'post', 'from: user1@example.com subject: post 1 post post post', 'subject: '.repeat(40)]) {
      for (const maxLength of [3, 8, 24, 512]) {
        assert.deepEqual(textWindows(tokenizer.tokenize(text), maxLength, 1, tokenizer.clsId, tokenizer.sepId), [tokenizer.encode(text, { maxLength }).ids]);
      }
    }
  });
});

function waitExit(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
}

describe('pretrain command', () => {
  const data = makeNewsgroupsFolder();
  const vocab = makeVocab();
  const args = (out: string, ...more: string[]) => [CLI, 'pretrain', '--data', data, '--init', 'scratch', '--vocab', vocab,
    '--layers', '1', '--dim', '16', '--heads', '2', '--ffn', '32', '--max-length', '24', '--batch-size', '8', '--epochs', '6',
    '--lr', '1e-2', '--whole-word-mask', '--no-progress', '--out', out, ...more];

  it('pretrains on the training part only, resumes bit for bit, and its folder starts a classifier', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pretrain-'));
    const full = join(root, 'full');
    const a = spawnSync(process.execPath, args(full), { encoding: 'utf8' });
    assert.equal(a.status, 0, a.stderr);
    // The fixture's card split holds out floor(10% of 96) = 9 posts: 87 are the training part.
    assert.match(a.stderr, /pretraining on the 87 texts of the training part/);
    const rows = a.stdout.trim().split('\n').slice(2).map((r) => Number(r.split('|')[2]));
    assert.equal(rows.length, 6);
    assert.ok(rows[5] < rows[0] - 0.5, `the masked-LM loss falls: ${rows}`);
    const config = JSON.parse(readFileSync(join(full, 'model', 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['DistilBertForMaskedLM']);
    assert.equal(config.id2label, undefined);
    const tensors = readSafetensors(join(full, 'model', 'model.safetensors'));
    assert.ok(tensors.has('vocab_transform.weight') && tensors.has('vocab_projector.bias'));
    assert.ok(!tensors.has('vocab_projector.weight'), 'the tied projector is not stored, as HF saves it');

    const part = join(root, 'part');
    const child = spawn(process.execPath, args(part), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('| 2 |')) child.kill('SIGINT');
    });
    assert.equal(await waitExit(child), 130);
    assert.ok(!existsSync(join(part, 'model', 'model.safetensors')));
    const again = spawnSync(process.execPath, [CLI, 'pretrain', '--out', part, '--resume', '--epochs', '3'], { encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /--resume continues .* --epochs cannot change them/);
    const b = spawnSync(process.execPath, [CLI, 'pretrain', '--out', part, '--resume', '--no-progress'], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    assert.ok(readFileSync(join(part, 'model', 'model.safetensors')).equals(readFileSync(join(full, 'model', 'model.safetensors'))),
      'resumed weights equal the uninterrupted run byte for byte');

    // `pretrain ... | head -1`: the reader goes after the first line; the run goes on to its model.
    const piped = join(root, 'piped');
    const head = spawn(process.execPath, args(piped), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    head.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    head.stdout!.once('data', () => head.stdout!.destroy());
    assert.equal(await waitExit(head), 0, err);
    assert.ok(readFileSync(join(piped, 'model', 'model.safetensors')).equals(readFileSync(join(full, 'model', 'model.safetensors'))), 'a closed stdout does not end the run');

    const cls = join(root, 'cls');
    const t = spawnSync(process.execPath, [CLI, 'train', '--data', data, '--init', join(full, 'model'), '--max-length', '24', '--batch-size', '8',
      '--epochs', '2', '--lr', '1e-2', '--optimizer', 'adamw', '--weight-decay', '0.01', '--no-progress', '--out', cls], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stderr, /not used from .*model\.safetensors: .*vocab_transform\.weight/);
    assert.match(t.stderr, /initialized pre_classifier\.weight, pre_classifier\.bias, classifier\.weight, classifier\.bias/);
    const card = readFileSync(join(cls, 'model', 'README.md'), 'utf8');
    assert.match(card, /torch AdamW \(weight decay 0\.01/);
    assert.match(card, /global-norm clipping at 1\b/, 'AdamW clips at max_grad_norm 1.0 by default, as HF Trainer');
    // The classifier starts from the pretrained body. Position 30 is beyond the training length: it
    // never has a gradient, so AdamW only decays it, by (1 - lr_t * 0.01) at each of the 2 x floor(87 / 8)
    // = 20 steps, lr_t = 1e-2 * (1 - t / 20).
    const body = readSafetensors(join(cls, 'model', 'model.safetensors')).get('distilbert.embeddings.position_embeddings.weight')!.data;
    const pre = tensors.get('distilbert.embeddings.position_embeddings.weight')!.data;
    let factor = 1;
    for (let t = 0; t < 20; t++) factor *= 1 - 1e-2 * (1 - t / 20) * 0.01;
    for (let i = 30 * 16; i < 31 * 16; i++) assert.ok(Math.abs(body[i] - pre[i] * factor) <= 1e-6 * Math.abs(pre[i]), `${body[i]} vs ${pre[i] * factor}`);
    assert.ok(pre.subarray(30 * 16, 31 * 16).some((x) => x !== 0));
  });

  it('--windows reads the rest of each text: every fixture post (18-22 tokens) gives two windows of 10', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'pretrain-')), 'windows');
    const r = spawnSync(process.execPath, args(out, '--max-length', '12', '--windows', '2', '--epochs', '2'), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /pretraining on the 87 texts of the training part .*: 174 sequences of up to 12 tokens, at most 2 from each text/);
    assert.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).settings.windows, 2);
    const resumed = spawnSync(process.execPath, [CLI, 'pretrain', '--out', out, '--resume', '--windows', '3'], { encoding: 'utf8' });
    assert.equal(resumed.status, 1);
    assert.match(resumed.stderr, /--windows cannot change them/);
  });
});
