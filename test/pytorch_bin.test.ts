import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readPytorchBin, readPytorchWeights } from '../src/io/pytorch_bin';
import { readSafetensors } from '../src/io/safetensors';
import { sharedPath, skipUnlessShared } from './shared';

// golden/bert/pickle_cases: torch.save files made by PyTorch itself (zip and legacy formats), the
// tensors they hold as contiguous F64 in expected.safetensors, and a pickle that runs os.system.
const skip = skipUnlessShared('golden', 'bert', 'pickle_cases', 'expected.safetensors');
const cases = (f: string) => sharedPath('golden', 'bert', 'pickle_cases', f);

const DTYPES: Record<string, string> = { 'torch.float32': 'F32', 'torch.float16': 'F16', 'torch.bfloat16': 'BF16', 'torch.float64': 'F64', 'torch.int64': 'I64' };

describe('pytorch_model.bin without running pickle code (golden/bert/pickle_cases)', { skip }, () => {
  for (const file of ['cases.bin', 'legacy.bin']) {
    it(`${file}: shared storages, offsets, strides, F16/BF16/F64/I64 and a 0-d tensor equal expected.safetensors exactly`, () => {
      const got = readPytorchBin(cases(file));
      const want = readF64Safetensors(cases('expected.safetensors'));
      const dtypes = JSON.parse(readFileSync(cases('dtypes.json'), 'utf8')) as Record<string, string>;
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
      for (const [name, w] of want) {
        const t = got.get(name)!;
        assert.deepEqual(t.shape, w.shape, `${name} shape`);
        assert.equal(t.dtype, DTYPES[dtypes[name]], `${name} dtype`);
        assert.deepEqual(Array.from(t.values), w.values, `${name} values`);
      }
    });
  }

  it('refuses the malicious pickle, naming the global, and runs nothing', () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'pickle-')), 'ran');
    assert.throws(() => readPytorchBin(cases('malicious.bin')), (e: Error) => {
      assert.match(e.message, /malicious\.bin: refused: the pickle loads the global (os|posix)\.system/);
      assert.equal(e.message.split('\n').length, 1);
      return true;
    });
    assert.throws(() => readFileSync(marker), /ENOENT/);
  });

  it('gives one line naming the file for truncated or corrupted checkpoints', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pickle-'));
    const legacy = readFileSync(cases('legacy.bin'));
    const zip = readFileSync(cases('cases.bin'));
    const bad: [string, Buffer][] = [
      ['legacy-cut-pickle.bin', legacy.subarray(0, 300)],
      ['legacy-cut-storage.bin', legacy.subarray(0, legacy.length - 10)],
      ['zip-cut.bin', zip.subarray(0, zip.length - 200)],
      ['garbage.bin', Buffer.from('not a checkpoint at all')],
      ['legacy-bad-opcode.bin', Buffer.concat([legacy.subarray(0, 150), Buffer.from([0xff]), legacy.subarray(151)])],
    ];
    for (const [name, bytes] of bad) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      assert.throws(() => readPytorchBin(p), (e: Error) => {
        assert.ok(e.message.startsWith(`${p}: `), `${name}: ${e.message}`);
        assert.equal(e.message.split('\n').length, 1, `${name}: one line`);
        return true;
      }, name);
    }
  });
});

describe('a BERT checkpoint as torch.save writes it (golden/bert/single/pytorch_model.bin)', { skip: skipUnlessShared('golden', 'bert', 'single', 'pytorch_model.bin') }, () => {
  it('holds model.safetensors\' weights exactly, _metadata accepted', () => {
    const dir = sharedPath('golden', 'bert', 'single');
    const got = readPytorchWeights(join(dir, 'pytorch_model.bin'));
    const want = readSafetensors(join(dir, 'model.safetensors'));
    for (const [name, w] of want) {
      const t = got.get(name);
      assert.ok(t, `${name} present`);
      assert.deepEqual(t.shape, w.shape);
      assert.deepEqual(t.data, w.data, name);
    }
  });
});

/** expected.safetensors (F64 only) read independently of the code under test. */
function readF64Safetensors(path: string): Map<string, { shape: number[]; values: number[] }> {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.toString('utf8', 8, 8 + n)) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { shape: number[]; values: number[] }>();
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(h.dtype, 'F64');
    const values: number[] = [];
    for (let o = h.data_offsets[0]; o < h.data_offsets[1]; o += 8) values.push(b.readDoubleLE(8 + n + o));
    out.set(name, { shape: h.shape, values });
  }
  return out;
}
