import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { File } from 'jsfive';
import { Random } from '../src/data/random';
import { loadModelDir } from '../src/model/model_dir';
import { sharedPath, skipUnlessShared } from './shared';

/** A corrupted copy of the file and how many of its bytes differ from the original (truncations: 0 kept). */
interface Corruption {
  what: string;
  bytes: Buffer;
  changed: number;
}

/** Offsets inside the golden file, found with jsfive: its root B-tree and each dataset's dataspace message. */
function landmarks(original: Buffer): { rootBtree: number; dataspaces: { at: number; version: number; rank: number }[]; float32Types: number[] } {
  const buffer = original.buffer.slice(original.byteOffset, original.byteOffset + original.byteLength) as ArrayBuffer;
  type Objects = { find_msg_type(t: number): { get(k: string): number }[] };
  const file = new File(buffer) as unknown as { _dataobjects: Objects; get(p: string): { attrs: Record<string, string[]>; get(p: string): { _dataobjects: Objects } } };
  const rootBtree = Number(new DataView(buffer).getBigUint64(file._dataobjects.find_msg_type(17)[0].get('offset_to_message'), true));
  const group = file.get('distilbert');
  const dataspaces = group.attrs.weight_names.slice(0, 4).map((w) => {
    const at = group.get(w.replace(/\0+$/, ''))._dataobjects.find_msg_type(1)[0].get('offset_to_message');
    return { at, version: original[at], rank: original[at + 1] };
  });
  // The datatype message of an IEEE little-endian float32 (version 1, class 1; size 4).
  const float32Types: number[] = [];
  const sig = Buffer.from([0x11, 0x20, 0x1f, 0x00, 0x04, 0x00, 0x00, 0x00]);
  for (let at = original.indexOf(sig); at >= 0; at = original.indexOf(sig, at + 1)) float32Types.push(at);
  return { rootBtree, dataspaces, float32Types };
}

function corruptions(original: Buffer): Corruption[] {
  const out: Corruption[] = [];
  const n = original.length;
  for (const keep of [0, 8, 100, 512, 2048, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, n - 1]) {
    const len = keep < 1 ? Math.floor(keep * n) : keep;
    out.push({ what: `truncated to ${len} bytes`, bytes: original.subarray(0, len), changed: Infinity });
  }
  const rng = new Random(20_241_204);
  const flip = (at: number, what: string) => {
    const b = Buffer.from(original);
    b[at] ^= 1 + Math.floor(rng.next() * 255);
    out.push({ what: `${what}: byte ${at} flipped`, bytes: b, changed: 1 });
  };
  for (let k = 0; k < 20; k++) flip(Math.floor(rng.next() * 4096), 'metadata');
  for (let k = 0; k < 15; k++) flip(Math.floor(rng.next() * n), 'anywhere');
  const marks = landmarks(original);
  assert.ok(marks.float32Types.length > 0 && marks.dataspaces.length === 4, 'the landmarks are found');
  const edit = (what: string, change: (b: Buffer) => void) => {
    const b = Buffer.from(original);
    change(b);
    out.push({ what, bytes: b, changed: Infinity });
  };
  // Other dtypes: every float32 made int32 (class 0), or float64 in name only (size 8, the data still float32).
  edit('every float32 datatype made int32', (b) => marks.float32Types.forEach((at) => b.writeUInt8(0x10, at)));
  edit('the first float32 datatype made int32', (b) => b.writeUInt8(0x10, marks.float32Types[0]));
  edit('every float32 datatype made 8 bytes wide', (b) => marks.float32Types.forEach((at) => b.writeUInt32LE(8, at + 4)));
  edit('the first float32 datatype made big-endian', (b) => b.writeUInt8(0x21, marks.float32Types[0] + 1));
  // Huge or zero dimensions: the first dimension of four datasets' dataspaces.
  for (const [k, d] of marks.dataspaces.entries()) {
    const first = d.at + (d.version === 1 ? 8 : 4);
    edit(`dataspace ${k}: dimension 2^40`, (b) => b.writeBigUInt64LE(2n ** 40n, first));
    edit(`dataspace ${k}: dimension 0`, (b) => b.writeBigUInt64LE(0n, first));
  }
  // A cycle: the root group's B-tree node made an internal node whose first child is itself.
  edit('the root B-tree points to itself', (b) => {
    const node = marks.rootBtree;
    assert.equal(b.toString('latin1', node, node + 4), 'TREE');
    b.writeUInt8(1, node + 5);
    b.writeBigUInt64LE(BigInt(node), node + 24 + 8);
  });
  return out;
}

describe('corrupt tf_model.h5 files (fuzz): one line naming the file, or the original tensors', { skip: skipUnlessShared('golden', 'tf_h5', 'tf_model.h5') }, () => {
  it('at least 50 corruptions: truncations, flipped bytes, other dtypes, huge and zero dimensions, a cyclic B-tree', () => {
    const src = sharedPath('golden', 'tf_h5');
    const original = readFileSync(join(src, 'tf_model.h5'));
    const want = loadModelDir(src).params;
    const dir = mkdtempSync(join(tmpdir(), 'h5-fuzz-'));
    for (const f of ['config.json', 'vocab.txt', 'tokenizer_config.json']) copyFileSync(join(src, f), join(dir, f));
    const path = join(dir, 'tf_model.h5');
    const cases = corruptions(original);
    assert.ok(cases.length >= 50, `${cases.length} cases`);
    let refused = 0;
    for (const c of cases) {
      writeFileSync(path, c.bytes);
      const t0 = Date.now();
      let loaded;
      try {
        loaded = loadModelDir(dir);
      } catch (e) {
        const message = (e as Error).message;
        assert.ok(e instanceof Error, `${c.what}: an Error`);
        assert.ok(message.startsWith(`${path}: `), `${c.what}: names the file: ${message}`);
        assert.ok(!message.includes('\n'), `${c.what}: one line: ${message}`);
        refused++;
      }
      assert.ok(Date.now() - t0 < 5000, `${c.what}: within 5 s (${Date.now() - t0} ms)`);
      if (loaded) {
        // HDF5 as Keras writes it has no checksums: a flipped data byte changes at most its own value.
        let differ = 0;
        want.data.forEach((x, i) => (differ += Object.is(x, loaded.params.data[i]) ? 0 : 1));
        assert.ok(differ <= c.changed, `${c.what}: loaded with ${differ} values changed`);
      }
    }
    assert.ok(refused >= 25, `${refused} of ${cases.length} refused`);
  });
});
