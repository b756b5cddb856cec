import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Random } from '../src/data/random';
import { engine, NativeModel } from '../src/engine/native';
import { parseConfig } from '../src/model/config';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { ParamStore } from '../src/io/params';
import { initParams } from '../src/train/init';
import { sharedPath, skipUnlessShared } from './shared';

const SUITE = join(__dirname, '..', '..', 'build', 'Release', 'test_backend_ops');
const ENGINE_CHECK = join(__dirname, '..', '..', 'build', 'Release', 'engine_check');

describe('per-kernel suite (native/tests/test_backend_ops.cc)', () => {
  // Every backend of this build runs the same cases; a new backend is added there by name.
  for (const backend of engine().backends()) {
    it(`every kernel, forward and backward, on the ${backend} backend`, () => {
      const r = spawnSync(SUITE, [backend], { encoding: 'utf8' });
      const failures = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
      const summary = r.stdout.trim().split('\n').pop();
      console.log(`${backend}: ${summary}`);
      assert.deepEqual(failures, [], 'no failing case');
      assert.equal(r.status, 0, r.stderr);
      assert.match(summary ?? '', /^[1-9]\d* passed, 0 failed$/);
    });
  }
});

describe('CUDA attention kernels run on the host (native/tests/test_attention_emulated.cc)', () => {
  // The fused bf16 attention of the CUDA backend, thread by thread on the CPU: checked here on every
  // machine, and again on the device by the suite where a GPU is.
  it('forward, backward and the kept dropout bits match the double-precision reference', () => {
    const r = spawnSync(join(__dirname, '..', '..', 'build', 'Release', 'test_attention_emulated'), { encoding: 'utf8' });
    const failures = r.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    assert.deepEqual(failures, [], 'no failing check');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim().split('\n').pop() ?? '', /^[1-9]\d* passed, 0 failed$/);
  });
});

/** Why the CUDA sources cannot be compiled here, or undefined where nvcc is found. */
function nvccSkip(): string | undefined {
  const found = spawnSync('bash', ['-c', 'command -v nvcc || test -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"'], { encoding: 'utf8' });
  return found.status === 0 ? undefined : 'no nvcc on this machine: the CUDA sources are compiled where the toolkit is';
}

describe('CUDA sources compile (native/tests/compile_cuda.sh)', { skip: nvccSkip() }, () => {
  // The backend's translation unit and each kernel header alone (each includes what it uses),
  // with nvcc -c; cuBLAS declared by native/tests/cublas_stub where its headers are absent.
  it('cuda_backend.cu and every header of native/cuda compile with nvcc', () => {
    const r = spawnSync('bash', [join(__dirname, '..', '..', 'native', 'tests', 'compile_cuda.sh')], { encoding: 'utf8' });
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('FAIL')), [], r.stdout);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lines.includes('ok   cuda/cuda_backend.cu'), 'the translation unit was compiled');
    assert.match(lines.pop() ?? '', /^[1-9]\d* passed, 0 failed$/);
  });
});

describe('process exit', () => {
  it('a process that made large weight copies (the GEMM peaks) exits cleanly: the engine frees its static buffers without a crash', () => {
    const native = join(__dirname, '..', 'src', 'engine', 'native');
    const r = spawnSync(process.execPath, ['-e', `const { engine } = require(${JSON.stringify(native)}); engine().gemmGflops(1536, 1, 'fp32'); try { engine().gemmGflops(1536, 1, 'bf16'); } catch {}`], { encoding: 'utf8' });
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('model step seam', () => {
  const config = parseConfig({ vocab_size: 60, max_position_embeddings: 16, n_layers: 2, n_heads: 2, dim: 8, hidden_dim: 16 });
  const params = new ParamStore(config);
  initParams(params, new Random(2));

  it('rejects buffers of the wrong size, ids outside the vocabulary and over-long sequences', () => {
    const native = new (engine().Model)(config, 'cpu');
    assert.throws(() => native.setParams(new Float32Array(params.size - 1)), /setParams: argument 0 must be a Float32Array of \d+ elements/);
    const model = new EncoderClassifier(config, params);
    assert.throws(() => model.forward(Int32Array.from([1, 2, 60]), Int32Array.from([1, 1, 1]), 1, 3), /input id 60 at position 2 is outside the vocabulary \(0..59\)/);
    assert.throws(() => model.forward(new Int32Array(17), new Int32Array(17).fill(1), 1, 17), /exceeds max_position_embeddings 16/);
    assert.throws(() => model.forward(new Int32Array(4), new Int32Array(4), 1, 3), /must both have 1x3 values/);
    model.forward(Int32Array.from([1, 2, 3]), Int32Array.from([1, 1, 1]), 1, 3);
    assert.throws(() => model.loss(Int32Array.from([0, 1])), /need 1 labels, got 2/);
    assert.throws(() => model.loss(Int32Array.from([2])), /label 2 is outside 0..1$/);
    assert.throws(() => new (engine().Model)(config, 'tpu'), /unknown device 'tpu'/);
    for (const name of ['cuda:', 'cuda:x', 'cuda:01', 'cuda:-1', 'cuda:1:2', 'cuda:1234567']) {
      assert.throws(() => new (engine().Model)(config, name), new RegExp(`unknown device '${name}' \\(known: cpu, cuda, cuda:N\\)`));
    }
  });

  it('works in a ParamStore\'s own memory on the CPU; weights off a 64-byte boundary are copied (the same logits)', () => {
    const B = 2, T = 5;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 11) % 60), mask = new Int32Array(B * T).fill(1);
    const logits = (m: NativeModel) => {
      const out = new Float32Array(B * config.id2label.length);
      m.forward(ids, mask, B, T, false, 0, false, false, out);
      return out;
    };
    const own = new ParamStore(config);
    own.data.set(params.data);
    const adopting = new (engine().Model)(config, 'cpu');
    assert.equal(adopting.adoptParams(own.data), true);
    // A view 4 bytes past paramArray's boundary: off every 64-byte boundary, whatever the buffer.
    const off = engine().paramArray(params.size + 1).subarray(1);
    off.set(params.data);
    const copying = new (engine().Model)(config, 'cpu');
    assert.equal(copying.adoptParams(off), false);
    assert.deepEqual(logits(copying), logits(adopting));
  });

  it('paramArray gives zeros, and refuses a negative or non-numeric count', () => {
    for (const n of [0, 1, 17, 1000]) {
      const a = engine().paramArray(n);
      assert.equal(a.length, n);
      assert.ok(a.every((v) => v === 0));
    }
    assert.throws(() => engine().paramArray(-1), /paramArray: argument 0 must be a count of values from 0 to 2\^40/);
    assert.throws(() => engine().paramArray('3' as unknown as number), /paramArray: argument 0 must be a number/);
  });

  it('cuda:N names GPU N: without the CUDA backend each says that it is not built, naming its library', { skip: engine().backends().includes('cuda') ? 'this build has the CUDA backend' : false }, () => {
    for (const name of ['cuda', 'cuda:0', 'cuda:3', 'cuda:10']) {
      assert.throws(() => new (engine().Model)(config, name), /^Error: --device cuda: this install has no CUDA backend \(.*engine_cuda\.so was not built/);
    }
  });

  it('inference gives the training path\'s logits, keeps no backward state and frees a large workspace', () => {
    const model = new EncoderClassifier(config, params);
    const B = 3, T = 16;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7) % 60);
    const mask = Int32Array.from({ length: B * T }, (_, i) => (i % T < [16, 9, 1][Math.floor(i / T)] ? 1 : 0));
    const withGrad = model.forward(ids, mask, B, T);
    const inference = model.forward(ids, mask, B, T, { grad: false });
    // To float rounding: training applies the FFN's GELU as a kernel of its own (backward needs the
    // pre-activation), inference fuses oneDNN's into the first product, and the two differ in the
    // last bits of some values.
    const scale = Math.max(...withGrad.map(Math.abs));
    assert.ok(scale > 0);
    withGrad.forEach((v, i) => assert.ok(Math.abs(inference[i] - v) <= 1e-6 * scale, `logit ${i}: ${inference[i]} against ${v}`));
    assert.throws(() => model.loss(Int32Array.from([0, 1, 2])), /needs a forward pass that keeps gradients/);
    model.releaseWorkspace();
    assert.equal(model.workspaceBytes(), 0);
    // Small inference workspaces are kept for the next call.
    model.forward(ids, mask, B, T, { grad: false });
    assert.ok(model.workspaceBytes() > 0);
  });

  it('an inference workspace over 64 MiB is released after its forward', () => {
    const big = parseConfig({ vocab_size: 100, max_position_embeddings: 512, n_layers: 1, n_heads: 4, dim: 256, hidden_dim: 1024 });
    const p = new ParamStore(big);
    initParams(p, new Random(3));
    const model = new EncoderClassifier(big, p);
    const B = 16, T = 512;
    model.forward(new Int32Array(B * T).fill(5), new Int32Array(B * T).fill(1), B, T, { grad: false });
    assert.equal(model.workspaceBytes(), 0);
  });
});

/** Why the CPU cannot run bf16 products, or false when it can (the engine decides: oneDNN's CPU detection). */
function cpuBf16Skip(): false | string {
  const probe = parseConfig({ vocab_size: 8, max_position_embeddings: 4, n_layers: 1, n_heads: 1, dim: 4, hidden_dim: 4 });
  try {
    new (engine().Model)(probe, 'cpu', 'bf16');
    return false;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('CPU bf16 (linear layers\' and attention\'s products with bfloat16 operands, fp32 accumulation)', { skip: cpuBf16Skip() }, () => {
  it('every kernel of the cpu-bf16 backend within the bf16 bound', () => {
    const r = spawnSync(SUITE, ['cpu-bf16'], { encoding: 'utf8' });
    assert.deepEqual(r.stdout.split('\n').filter((l) => l.startsWith('FAIL')), []);
    assert.match(r.stdout.trim().split('\n').pop() ?? '', /^[1-9]\d* passed, 0 failed$/);
  });

  it('a forward pass: logits near fp32\'s, and not equal to them (the bf16 path runs)', () => {
    const config = parseConfig({ vocab_size: 200, max_position_embeddings: 32, n_layers: 2, n_heads: 4, dim: 64, hidden_dim: 128 });
    const params = new ParamStore(config);
    initParams(params, new Random(4));
    const ids = Int32Array.from({ length: 2 * 32 }, (_, i) => (i * 13) % 200);
    const mask = new Int32Array(2 * 32).fill(1);
    const fp32 = new EncoderClassifier(config, params).forward(ids, mask, 2, 32, { grad: false });
    const bf16 = new EncoderClassifier(config, params, { precision: 'bf16' }).forward(ids, mask, 2, 32, { grad: false });
    const err = Math.max(...Array.from(fp32, (v, i) => Math.abs(v - bf16[i])));
    assert.ok(err > 1e-7 && err < 2e-2, `max abs difference ${err}`);
  });

  it('a training step: every tensor\'s gradient near fp32\'s (same dropout masks), the FFN\'s and attention\'s included', () => {
    const config = parseConfig({ vocab_size: 200, max_position_embeddings: 32, n_layers: 2, n_heads: 4, dim: 64, hidden_dim: 128 });
    const params = new ParamStore(config);
    initParams(params, new Random(5));
    const ids = Int32Array.from({ length: 2 * 32 }, (_, i) => (i * 17 + 3) % 200);
    const mask = Int32Array.from({ length: 2 * 32 }, (_, i) => (i % 32 < 27 ? 1 : 0));
    const grads = (precision: 'fp32' | 'bf16') => {
      const model = new EncoderClassifier(config, params, precision === 'bf16' ? { precision } : {});
      model.forward(ids, mask, 2, 32, { train: true, seed: 7 });
      model.loss(Int32Array.from([0, 1]));
      model.backward();
      return model.readGrads();
    };
    const fp32 = grads('fp32'), bf16 = grads('bf16');
    let differs = false;
    for (const s of fp32.slots) {
      const want = fp32.get(s.name), got = bf16.get(s.name);
      const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
      const err = Math.max(...Array.from(want, (v, i) => Math.abs(v - got[i]))) / scale;
      // Relative to the tensor's largest gradient: bf16 operands carry 8 bits, through two layers and back.
      assert.ok(err < 5e-2, `${s.name}: ${err}`);
      differs ||= err > 0;
    }
    assert.ok(differs, 'the bf16 path runs');
  });

  it('resumes a bf16 run to the very parameters of the uninterrupted one (its sums run in a fixed order)', () => {
    const r = spawnSync(ENGINE_CHECK, ['resume', '--device', 'cpu', '--precision', 'bf16'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: 0 of [1-9]\d* parameters differ from the uninterrupted run .*: PASS$/m);
  });
});

// scripts/gpu-check.sh runs engine_check on GPU machines, which have no Node: here it is built and
// run on the CPU, so that a change to the engine cannot break it unseen.
describe('engine_check (the engine without Node, native/tools)', () => {
  it('passes the golden forward, Keras Adam and masked-LM AdamW tests on the cpu backend', { skip: skipUnlessShared('golden', 'mlm', 'final.safetensors') }, () => {
    const r = spawnSync(ENGINE_CHECK, ['golden', sharedPath('golden'), '--device', 'cpu'], { encoding: 'utf8' });
    console.log(r.stdout.trim());
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^golden masked LM \(3 AdamW steps\) on cpu: logits max abs error /m);
    assert.match(r.stdout, /^golden: PASS$/m);
  });

  it('resumes a run from parameters and Adam moments to the very parameters of the uninterrupted run', () => {
    const r = spawnSync(ENGINE_CHECK, ['resume', '--device', 'cpu'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: 0 of [1-9]\d* parameters differ from the uninterrupted run .*: PASS$/m);
  });

  it('times a bench case kernel by kernel (--profile)', () => {
    const r = spawnSync(ENGINE_CHECK, ['bench', '--device', 'cpu', '--cases', 'infer_1x128', '--profile'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [line, profile] = r.stdout.trim().split('\n');
    const result = JSON.parse(line) as { case: string; unit: string; value: number };
    assert.deepEqual([result.case, result.unit], ['infer_1x128', 'ms']);
    assert.ok(result.value > 0);
    // Every layer's attention and products appear, each with a positive time.
    for (const kernel of ['attention_forward', 'linear_forward', 'layernorm_forward'])
      assert.match(profile, new RegExp(` ${kernel} [0-9.]*[1-9][0-9.]*;`), kernel);
  });
});
