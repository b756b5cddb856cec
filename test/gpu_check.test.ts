import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { forwardFlops } from '../src/bench/cases';
import { sharedPath, skipUnlessShared } from './shared';

const ROOT = join(__dirname, '..', '..');
const DATA = [sharedPath('data', '20news-bydate.tar.gz'), sharedPath('vocab', 'bert-base-uncased-vocab.txt'), sharedPath('golden', 'card_split_validation_paths.txt')];
const hasCmake = spawnSync('cmake', ['--version']).status === 0;
const skip = skipUnlessShared('data', '20news-bydate.tar.gz') || skipUnlessShared('golden', 'card_split_validation_paths.txt') || (hasCmake ? false : 'needs cmake');

// What scripts/gpu-check.sh --phases cli and main do on a GPU machine, on the CPU: a copy of the
// tree as such a machine gets it (sources, dist/, no build/), the addon built by CMake, the
// product's commands.
describe('scripts/gpu-check.sh --phase cli and --phase main, rehearsed on the CPU', { skip }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpu-check-'));
    for (const d of ['package.json', 'scripts', 'native', 'dist']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'bundle', 'data'), { recursive: true });
    for (const f of DATA) symlinkSync(f, join(dir, 'bundle', 'data', f.split('/').pop()!));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const gpuCheck = (phase: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync('bash', ['scripts/gpu-check.sh', '--phase', phase, '--device', 'cpu', '--precision', 'fp32', '--bundle', 'bundle', '--report', `report-${phase}`, ...args],
      { cwd: dir, encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    assert.match(out, /^gpu-check: PASS after \d+ s/m);
    return out;
  };

  it('builds the addon with CMake, trains (interrupted after its first checkpoint, then resumed), evaluates, predicts and serves', () => {
    const out = gpuCheck('cli', ['--train-args', '--epochs 2 --max-length 32 --layers 1 --dim 32 --heads 2 --ffn 64']);
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
  });

  it('runs the GPU recipe of scripts/main.sh: a masked LM pretrained from scratch, fine-tuned from it, evaluated and asked, timed', () => {
    const out = gpuCheck('main', [], {
      PRETRAIN_ARGS: '--epochs 1 --max-length 32 --windows 1 --batch-size 256 --layers 1 --dim 32 --heads 2 --ffn 64',
      TRAIN_ARGS: '--epochs 1 --max-length 32 --batch-size 256',
    });
    const log = readFileSync(join(dir, 'report-main', 'main.log'), 'utf8');
    // Pretraining on the training part only, then the classifier from that model, its masked-LM head left out.
    assert.match(log, /^pretraining on the 16962 texts of the training part/m);
    assert.match(out, /^\| 1 \| [0-9.]+ \| [0-9.]+ \| \d+ \| \d+ \|$/m);
    assert.match(log, /^not used from runs\/gpu-check-pretrain\/model\/model\.safetensors: vocab_transform\.weight/m);
    assert.match(out, /^\| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| 0 \|$/m);
    assert.match(out, /^model saved to runs\/gpu-check-main\/model$/m);
    assert.match(out, /^accuracy +[0-9.]+ +1884$/m);
    assert.equal(out.split('\n').filter((l) => /^  0\.\d{4}  [a-z.]+$/.test(l)).length, 3);
    assert.match(out, /^main job: \d+ s, setup aside/m);
  });
});

describe('bench/gpu_report.py', () => {
  it('gives each case its ratio to PyTorch and its share of the GPU\'s dense peak, counting FLOPs as the CPU bench does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpu-report-'));
    try {
      const line = (engine: string, c: string, precision: string, unit: string, value: number, s: number) => JSON.stringify({ engine, case: c, precision, unit, value, median_s: s });
      writeFileSync(join(dir, 'ours.jsonl'), [line('ours', 'train_32x512', 'bf16', 'tokens/s', 582_000, 0.028), line('ours', 'infer_1x128', 'tf32', 'ms', 2, 0.002)].join('\n') + '\n');
      writeFileSync(join(dir, 'torch.jsonl'), [line('pytorch', 'train_32x512', 'bf16', 'tokens/s', 388_000, 0.042), line('pytorch', 'infer_1x128', 'tf32', 'ms', 3, 0.003)].join('\n') + '\n');
      const report = (gpu: string) => {
        const r = spawnSync('python3', [join(ROOT, 'bench', 'gpu_report.py'), join(dir, 'ours.jsonl'), join(dir, 'torch.jsonl'), '--gpu', gpu], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout;
      };
      // NVIDIA's datasheet, H100 SXM dense: bf16 989.4 TFLOP/s, tf32 494.7.
      const train = (100 * 3 * forwardFlops(32, 512)) / 0.028 / 989.4e12, infer = (100 * forwardFlops(1, 128)) / 0.002 / 494.7e12;
      const h100 = report('NVIDIA H100 80GB HBM3');
      assert.match(h100, new RegExp(`^\\| train_32x512 \\| bf16 \\| tokens/s \\| 582000\\.0 \\| 388000 \\| 1\\.50x \\| ${train.toFixed(1)}% \\|$`, 'm'));
      assert.match(h100, new RegExp(`^\\| infer_1x128 \\| tf32 \\| ms \\| 2\\.0 \\| 3 \\| 1\\.50x \\| ${infer.toFixed(1)}% \\|$`, 'm'));
      // torch.compile's lines as a second peer, with the seconds they took to compile.
      writeFileSync(join(dir, 'compiled.jsonl'), JSON.stringify({ engine: 'pytorch-compile', case: 'train_32x512', precision: 'bf16', unit: 'tokens/s', value: 465_600, median_s: 0.035, warmup_s: 61.2 }) + '\n');
      const r = spawnSync('python3', [join(ROOT, 'bench', 'gpu_report.py'), join(dir, 'ours.jsonl'), join(dir, 'torch.jsonl'), '--compiled', join(dir, 'compiled.jsonl')], { encoding: 'utf8' });
      assert.match(r.stdout, /^\| train_32x512 \| bf16 \| tokens\/s \| 582000\.0 \| 388000 \| 1\.50x \| 465600 \| 1\.25x \| - \|$/m);
      assert.match(r.stdout, /^\| infer_1x128 \| tf32 \| ms \| 2\.0 \| 3 \| 1\.50x \| absent \| - \| - \|$/m);
      assert.match(r.stdout, /^torch\.compile train_32x512 bf16: warm-up \(compiling\) 61\.2 s$/m);
      // A GPU without datasheet figures here: no shares, and a line that says so.
      const t4 = report('Tesla T4');
      assert.match(t4, /^\| train_32x512 \| bf16 \| tokens\/s \| 582000\.0 \| 388000 \| 1\.50x \| - \|$/m);
      assert.match(t4, /no datasheet peaks for GPU 'Tesla T4'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
