import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sharedPath, skipUnlessShared } from './shared';

const ROOT = join(__dirname, '..', '..');
const DATA = [sharedPath('data', '20news-bydate.tar.gz'), sharedPath('vocab', 'bert-base-uncased-vocab.txt'), sharedPath('golden', 'card_split_validation_paths.txt')];
const hasCmake = spawnSync('cmake', ['--version']).status === 0;
const skip = skipUnlessShared('data', '20news-bydate.tar.gz') || skipUnlessShared('golden', 'card_split_validation_paths.txt') || (hasCmake ? false : 'needs cmake');

// What scripts/gpu-check.sh --phase cli does on a GPU machine, on the CPU: a copy of the tree as
// such a machine gets it (sources, dist/, no build/), the addon built by CMake, the product's commands.
describe('scripts/gpu-check.sh --phase cli, rehearsed on the CPU', { skip }, () => {
  it('builds the addon with CMake, trains (interrupted after its first checkpoint, then resumed), evaluates, predicts and serves', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpu-check-'));
    try {
      for (const d of ['package.json', 'scripts', 'native', 'dist']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      mkdirSync(join(dir, 'bundle', 'data'), { recursive: true });
      for (const f of DATA) symlinkSync(f, join(dir, 'bundle', 'data', f.split('/').pop()!));
      const r = spawnSync('bash', ['scripts/gpu-check.sh', '--phase', 'cli', '--device', 'cpu', '--precision', 'fp32', '--bundle', 'bundle', '--report', 'report',
        '--train-args', '--epochs 2 --max-length 32 --layers 1 --dim 32 --heads 2 --ffn 64'], { cwd: dir, encoding: 'utf8', timeout: 600_000 });
      const out = r.stdout + r.stderr;
      assert.equal(r.status, 0, out);
      assert.match(out, /^gpu-check: PASS after \d+ s/m);
      // The first run stopped mid-way, by its SIGINT handler, and the second took up from its checkpoint.
      const saved = /checkpoint saved at epoch 1, step (\d+): runs\/gpu-check\/checkpoint\.safetensors/.exec(out);
      assert.ok(saved, out);
      assert.match(out, new RegExp(`resuming runs/gpu-check at epoch 1, step ${saved[1]}\\n`));
      assert.match(out, /^\| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| 1 \|$/m);
      assert.match(out, /^accuracy +[0-9.]+ +1884$/m);
      const reply = JSON.parse(out.split('\n').find((l) => l.startsWith('{"model"'))!) as { results: { predictions: { score: number }[] }[] };
      assert.equal(reply.results.length, 2);
      for (const { predictions } of reply.results) assert.ok(Math.abs(predictions.reduce((s, p) => s + p.score, 0) - 1) < 1e-6);
      // The addon the commands ran is the one CMake built there.
      assert.ok(existsSync(join(dir, 'build-node', 'engine.node')));
      assert.deepEqual(readFileSync(join(dir, 'build', 'Release', 'engine.node')), readFileSync(join(dir, 'build-node', 'engine.node')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
