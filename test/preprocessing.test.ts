import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeNewsgroupsFolder, makeVocab } from './fixtures';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');

// One body under two different header blocks: the same text once the headers are stripped.
const BODY = 'the orbit of the engine and the pixel of god';
const A = `From: a@b.c\nSubject: space\n\n${BODY}`;
const B = `From: zz@graphics.org\nSubject: atheism cars graphics pixel god\nOrganization: rec.autos\n\n${BODY}`;

type Scores = Record<string, number>;

function predict(model: string, extra: string[] = []): { status: number | null; stderr: string; scores: Scores[] } {
  const r = spawnSync(process.execPath, [CLI, 'predict', '--model', model, '--json', ...extra, A, B], { encoding: 'utf8' });
  const scores = r.status === 0
    ? r.stdout.trim().split('\n').map((l) => Object.fromEntries((JSON.parse(l) as { predictions: { label: string; score: number }[] }).predictions.map((p) => [p.label, p.score])))
    : [];
  return { status: r.status, stderr: r.stderr, scores };
}

/** `serve` started as a user starts it; the scores of A and B from POST /v1/classify. */
async function served(model: string): Promise<Scores[]> {
  const child = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const res = await fetch(`${address}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: [A, B] }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: { predictions: { label: string; score: number }[] }[] };
    return body.results.map((r) => Object.fromEntries(r.predictions.map((p) => [p.label, p.score])));
  } finally {
    child.kill('SIGTERM');
  }
}

function maxDiff(x: Scores, y: Scores): number {
  return Math.max(...Object.keys(x).map((k) => Math.abs(x[k] - y[k])));
}

describe('a model folder keeps the preprocessing it was trained with', () => {
  const out = mkdtempSync(join(tmpdir(), 'strip-'));
  const model = join(out, 'model');
  const train = spawnSync(process.execPath, [CLI, 'train', '--data', makeNewsgroupsFolder(), '--init', 'scratch', '--vocab', makeVocab(),
    '--preset', 'small', '--layers', '1', '--dim', '16', '--heads', '2', '--ffn', '32', '--max-length', '32', '--batch-size', '4',
    '--epochs', '2', '--lr', '1e-2', '--strip', 'headers', '--no-progress', '--out', out], { encoding: 'utf8' });

  it('trained with --strip headers, the folder records it', () => {
    assert.equal(train.status, 0, train.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(model, 'preprocessing.json'), 'utf8')), { strip: ['headers'], max_length: 32 });
  });

  it('predict and serve strip the headers without the flag: two header blocks over one body score alike', async () => {
    // Without the record, the headers are read and the two texts score differently: the check below can fail.
    const bare = join(out, 'bare');
    cpSync(model, bare, { recursive: true });
    rmSync(join(bare, 'preprocessing.json'));
    const unstripped = predict(bare);
    assert.equal(unstripped.status, 0, unstripped.stderr);
    assert.ok(maxDiff(unstripped.scores[0], unstripped.scores[1]) > 1e-4, 'headers change the scores when they are read');

    const p = predict(model);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(maxDiff(p.scores[0], p.scores[1]), 0, 'predict: the same scores for the same body');
    const s = await served(model);
    assert.equal(maxDiff(s[0], s[1]), 0, 'serve: the same scores for the same body');
    assert.ok(maxDiff(s[0], p.scores[0]) < 1e-6, 'serve and predict agree');
    // The folder without its record, told --strip headers, gives what the record gives.
    assert.ok(maxDiff(predict(bare, ['--strip', 'headers']).scores[0], p.scores[0]) < 1e-12);
  });

  it('a different explicit --strip is refused in one line, by predict and evaluate', () => {
    const p = predict(model, ['--strip', 'quotes']);
    assert.equal(p.status, 1);
    assert.match(p.stderr.trim(), /trained with --strip headers.*drop --strip quotes/);
    assert.equal(p.stderr.trim().split('\n').length, 1);
    const e = spawnSync(process.execPath, [CLI, 'evaluate', '--model', model, '--data', makeNewsgroupsFolder(), '--strip', 'headers,quotes'], { encoding: 'utf8' });
    assert.equal(e.status, 1);
    assert.match(e.stderr, /trained with --strip headers/);
    const same = predict(model, ['--strip', 'headers']);
    assert.equal(same.status, 0, 'the same rules are accepted');
  });
});
