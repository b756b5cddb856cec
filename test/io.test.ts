import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/model/config';
import { loadModelDir } from '../src/model/model_dir';
import { ParamStore } from '../src/io/params';
import { halfToFloat, readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { sharedPath, skipUnlessShared } from './shared';

const tmp = () => mkdtempSync(join(tmpdir(), 'io-'));

/** A safetensors file assembled byte by byte, independent of our writer. */
function handMade(header: object, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

describe('safetensors', () => {
  it('decodes F32, F64, F16 and BF16 written by hand', () => {
    const f32 = Buffer.alloc(8); f32.writeFloatLE(1.5, 0); f32.writeFloatLE(-2.25, 4);
    const f64 = Buffer.alloc(8); f64.writeDoubleLE(0.1, 0);
    const f16 = Buffer.from([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00]); // 1.0, -2.0, smallest subnormal
    const bf16 = Buffer.from([0x80, 0x3f, 0x40, 0xc0]); // 1.0, -3.0
    const data = Buffer.concat([f32, f64, f16, bf16]);
    const file = join(tmp(), 'a.safetensors');
    writeFileSync(file, handMade({
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F64', shape: [1, 1], data_offsets: [8, 16] },
      c: { dtype: 'F16', shape: [3], data_offsets: [16, 22] },
      d: { dtype: 'BF16', shape: [2], data_offsets: [22, 26] },
    }, data));
    const t = readSafetensors(file);
    assert.deepEqual(Array.from(t.get('a')!.data), [1.5, -2.25]);
    assert.deepEqual(t.get('b')!.shape, [1, 1]);
    assert.equal(t.get('b')!.data[0], Math.fround(0.1));
    assert.deepEqual(Array.from(t.get('c')!.data), [1, -2, 2 ** -24]);
    assert.deepEqual(Array.from(t.get('d')!.data), [1, -3]);
    assert.equal(halfToFloat(0x7c00), Infinity);
  });

  it('writes F32 that reads back exactly, header 8-byte aligned', () => {
    const file = join(tmp(), 'w.safetensors');
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
    writeSafetensors(file, [{ name: 'x', shape: [2, 3], data: x }, { name: 'y', shape: [1], data: Float32Array.from([7]) }]);
    const raw = readFileSync(file);
    assert.equal(Number(raw.readBigUInt64LE(0)) % 8, 0);
    const h = JSON.parse(raw.toString('utf8', 8, 8 + Number(raw.readBigUInt64LE(0))));
    assert.deepEqual(h.x, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    const t = readSafetensors(file);
    assert.deepEqual(Array.from(t.get('x')!.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(t.get('y')!.data), [7]);
  });

  it('names the file and tensor for truncated, corrupt and unsupported input', () => {
    const dir = tmp();
    const good = handMade({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(16));
    const cases: [string, Buffer, RegExp][] = [
      ['short', Buffer.from([1, 2, 3]), /short\.safetensors: not a safetensors file/],
      ['truncated', good.subarray(0, good.length - 4), /truncated\.safetensors: truncated: tensor w/],
      ['badlen', Buffer.concat([Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]), Buffer.alloc(16)]), /badlen\.safetensors: truncated or corrupt/],
      ['json', handMade({}, Buffer.alloc(0)).fill(0x7b, 8), /json\.safetensors: corrupt header/],
      ['dtype', handMade({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8)), /tensor w: unsupported dtype I64/],
      ['size', handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, Buffer.alloc(16)), /tensor w: 16 bytes do not hold shape \[3\]/],
    ];
    for (const [name, bytes, re] of cases) {
      const f = join(dir, `${name}.safetensors`);
      writeFileSync(f, bytes);
      assert.throws(() => readSafetensors(f), re, name);
    }
  });
});

const THP = '/sys/kernel/mm/transparent_hugepage/enabled';
const thpOff = !existsSync(THP) ? 'no transparent huge pages in this kernel' : readFileSync(THP, 'utf8').includes('[never]') ? 'transparent huge pages are off here' : false;
const procNumber = (file: string, re: RegExp) => Number(re.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);

describe('parameter memory', { skip: thpOff }, () => {
  it('a model\'s weights are written into huge pages (the kernel\'s AnonHugePages grows by nearly all of them)', (t) => {
    const huge = () => procNumber('/proc/self/smaps_rollup', /AnonHugePages:\s+(\d+) kB/) * 1024;
    const fallbacks = () => procNumber('/proc/vmstat', /thp_fault_fallback (\d+)/);
    const [before, fellBack] = [huge(), fallbacks()];
    const p = new ParamStore(parseConfig({ vocab_size: 30522, dim: 768, n_layers: 6, n_heads: 12, hidden_dim: 3072, max_position_embeddings: 512 }));
    p.data.fill(0.5);
    // All but the partial 2 MiB pages at the array's two ends.
    const gained = huge() - before, want = p.data.byteLength - 4 * 2 ** 20;
    if (gained < want && fallbacks() > fellBack) return t.skip('the kernel ran out of free huge pages (thp_fault_fallback)');
    assert.ok(gained >= want, `AnonHugePages grew by ${gained} bytes for ${p.data.byteLength} bytes of weights`);
  });
});

describe('config.json', () => {
  it('fills HF DistilBertConfig defaults for absent fields', () => {
    const c = parseConfig({ model_type: 'distilbert' });
    assert.equal(c.dim, 768);
    assert.equal(c.nLayers, 6);
    assert.equal(c.nHeads, 12);
    assert.equal(c.hiddenDim, 3072);
    assert.equal(c.vocabSize, 30522);
    assert.equal(c.maxPositionEmbeddings, 512);
    assert.equal(c.dropout, 0.1);
    assert.equal(c.attentionDropout, 0.1);
    assert.equal(c.seqClassifDropout, 0.2);
    assert.equal(c.activation, 'gelu');
    assert.deepEqual(c.id2label, ['LABEL_0', 'LABEL_1']);
  });
  it('reads id2label in id order and rejects other model types and bad shapes', () => {
    assert.deepEqual(parseConfig({ id2label: { 1: 'b', 0: 'a' } }).id2label, ['a', 'b']);
    assert.throws(() => parseConfig({ model_type: 'roberta' }, 'x/config.json'), /x\/config\.json: model_type is "roberta"; supported: "distilbert", "bert"/);
    assert.throws(() => parseConfig({ dim: 10, n_heads: 3 }), /dim 10 is not a multiple of n_heads 3/);
    assert.throws(() => parseConfig({ activation: 'swish' }), /activation "swish" is not supported/);
  });
});

describe('model folder', { skip: skipUnlessShared('golden', 'tiny', 'model.safetensors') }, () => {
  const copyTiny = (): string => {
    const dir = tmp();
    for (const f of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json']) {
      writeFileSync(join(dir, f), readFileSync(sharedPath('golden', 'tiny', f)));
    }
    return dir;
  };
  it('loads the golden tiny model with its labels and tokenizer', () => {
    const m = loadModelDir(sharedPath('golden', 'tiny'));
    assert.equal(m.config.id2label.length, 20);
    assert.equal(m.config.id2label[19], 'LABEL_19');
    assert.equal(m.params.get('classifier.weight').length, 20 * 32);
    assert.equal(m.tokenizer.modelMaxLength, 512);
  });
  it('names the missing tensor, the shape mismatch and the missing file', () => {
    const dir = copyTiny();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_dim: 48 }));
    assert.throws(() => loadModelDir(dir), /model\.safetensors: tensor distilbert\.transformer\.layer\.0\.ffn\.lin1\.weight has shape \[64,32\], config\.json implies \[48,32\]/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, n_layers: 3 }));
    assert.throws(() => loadModelDir(dir), /missing tensor distilbert\.transformer\.layer\.2\.attention\.q_lin\.weight/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'roberta' }));
    assert.throws(() => loadModelDir(dir), /model_type is "roberta"/);
    const dir2 = copyTiny();
    writeFileSync(join(dir2, 'vocab.txt'), '');
    assert.throws(() => loadModelDir(dir2), /vocabulary has no \[PAD\] token/);
    assert.throws(() => loadModelDir(tmp()), /config\.json is missing/);
  });
});
