import { readFileSync } from 'node:fs';
import AdmZip from 'adm-zip';
import { Tensor } from './safetensors';

/**
 * PyTorch checkpoints (`pytorch_model.bin`, torch.save of a state_dict) read without Python and
 * without running pickle code: a restricted unpickler in the manner of torch.load(weights_only=True).
 * It knows the opcodes of protocols 2-5 that such files use and resolves only the globals a
 * state_dict needs (OrderedDict, the tensor and parameter rebuilders, the typed storages); any other
 * global is refused, naming it, before anything is called. Both formats: the zip archive (PyTorch
 * >= 1.6: `<name>/data.pkl` with storages in `<name>/data/<key>`) and the legacy one (a pickled magic
 * number, protocol version and system info, the object, the list of storage keys, then each storage
 * as its element count and raw little-endian bytes).
 */

/** A tensor of a checkpoint in its own dtype, its values contiguous in row-major order (I64 exact below 2^53). */
export interface PickledTensor {
  dtype: 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
  shape: number[];
  values: Float64Array;
}

const STORAGES: Record<string, { dtype: PickledTensor['dtype']; bytes: number }> = {
  FloatStorage: { dtype: 'F32', bytes: 4 }, HalfStorage: { dtype: 'F16', bytes: 2 }, BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  DoubleStorage: { dtype: 'F64', bytes: 8 }, LongStorage: { dtype: 'I64', bytes: 8 }, IntStorage: { dtype: 'I32', bytes: 4 },
  ShortStorage: { dtype: 'I16', bytes: 2 }, CharStorage: { dtype: 'I8', bytes: 1 }, ByteStorage: { dtype: 'U8', bytes: 1 },
  BoolStorage: { dtype: 'BOOL', bytes: 1 },
};

/** The globals a state_dict may name; everything else is refused. */
const ALLOWED = new Set([
  'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

class Global {
  constructor(readonly name: string) {}
}
class StorageRef {
  constructor(readonly kind: { dtype: PickledTensor['dtype']; bytes: number }, readonly key: string, readonly numel: number) {}
}
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}
class Mark {}
const MARK = new Mark();

type Value = unknown;

/** The state_dict's OrderedDict: insertion order kept; BUILD state (`_metadata`) accepted and dropped. */
class OrderedDict extends Map<Value, Value> {}

function fail(path: string, msg: string): never {
  throw new Error(`${path}: ${msg}`);
}

/** Runs one pickle from `pos`; returns the object and the position after STOP. */
function unpickle(buf: Buffer, pos: number, path: string, persistent: (pid: Value) => Value): { value: Value; end: number } {
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  const need = (n: number) => {
    if (pos + n > buf.length) fail(path, `the pickle is truncated (needs ${n} bytes at offset ${pos} of ${buf.length})`);
  };
  const u8 = () => (need(1), buf[pos++]);
  const u16 = () => (need(2), (pos += 2), buf.readUInt16LE(pos - 2));
  const u32 = () => (need(4), (pos += 4), buf.readUInt32LE(pos - 4));
  const i32 = () => (need(4), (pos += 4), buf.readInt32LE(pos - 4));
  const u64 = () => {
    need(8);
    const v = buf.readBigUInt64LE(pos);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(path, `a length of ${v} bytes in the pickle is impossible`);
    return Number(v);
  };
  const bytes = (n: number) => (need(n), (pos += n), buf.subarray(pos - n, pos));
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) fail(path, 'the pickle is truncated (a text line has no end)');
    const s = buf.toString('latin1', pos, end);
    pos = end + 1;
    return s;
  };
  const pop = (): Value => {
    if (!stack.length) fail(path, 'the pickle pops from an empty stack: corrupted');
    return stack.pop();
  };
  const popMark = (): Value[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail(path, 'the pickle has no MARK where one is needed: corrupted');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = (): Value => {
    if (!stack.length) fail(path, 'the pickle reads an empty stack: corrupted');
    return stack[stack.length - 1];
  };
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    if (!ALLOWED.has(full)) fail(path, `refused: the pickle loads the global ${full}, which a state_dict never needs (only tensors, storages and OrderedDict are loaded; nothing was run)`);
    return new Global(full);
  };
  const call = (fn: Value, args: Value): Value => {
    if (!(fn instanceof Global) || !Array.isArray(args)) fail(path, 'the pickle calls something that is not an allowed global: corrupted');
    switch (fn.name) {
      case 'collections.OrderedDict':
        return new OrderedDict();
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, shape, stride] = args;
        const ints = (v: Value) => Array.isArray(v) && v.every((x) => Number.isInteger(x));
        if (!(storage instanceof StorageRef) || !Number.isInteger(offset) || !ints(shape) || !ints(stride)) fail(path, `${fn.name} has bad arguments`);
        return new TensorRef(storage, offset as number, shape as number[], stride as number[]);
      }
      case 'torch._utils._rebuild_parameter':
        if (!(args[0] instanceof TensorRef)) fail(path, '_rebuild_parameter of something that is not a tensor');
        return args[0];
      default:
        return fail(path, `the pickle calls ${fn.name}, which is not a function`);
    }
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME
      case 0x2e: return { value: pop(), end: pos }; // STOP
      case 0x28: stack.push(MARK); break; // MARK
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: { // LONG1
        const b = bytes(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: need(8); stack.push(buf.readDoubleBE(pos)); pos += 8; break; // BINFLOAT
      case 0x58: stack.push(bytes(u32()).toString('utf8')); break; // BINUNICODE
      case 0x8c: stack.push(bytes(u8()).toString('utf8')); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(bytes(u64()).toString('utf8')); break; // BINUNICODE8
      case 0x54: stack.push(bytes(u32()).toString('latin1')); break; // BINSTRING
      case 0x55: stack.push(bytes(u8()).toString('latin1')); break; // SHORT_BINSTRING
      case 0x42: stack.push(Buffer.from(bytes(u32()))); break; // BINBYTES
      case 0x43: stack.push(Buffer.from(bytes(u8()))); break; // SHORT_BINBYTES
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(path, `the pickle refers to memo entry ${k}, which it never stored: corrupted`);
        stack.push(memo.get(k));
        break;
      }
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail(path, 'APPEND to something that is not a list'); l.push(v); break; } // APPEND
      case 0x65: { const items = popMark(); const l = top(); if (!Array.isArray(l)) fail(path, 'APPENDS to something that is not a list'); l.push(...items); break; } // APPENDS
      case 0x64: { const items = popMark(); const d = new Map(); for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]); stack.push(d); break; } // DICT
      case 0x73: { const v = pop(), k = pop(); const d = top(); if (!(d instanceof Map)) fail(path, 'SETITEM on something that is not a dict'); d.set(k, v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        if (!(d instanceof Map) || items.length % 2) fail(path, 'SETITEMS on something that is not a dict');
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x63: { const module = line(); stack.push(global(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(path, 'STACK_GLOBAL of something that is not a name');
        stack.push(global(module, name));
        break;
      }
      case 0x52: { const args = pop(); stack.push(call(pop(), args)); break; } // REDUCE
      case 0x81: { const args = pop(); stack.push(call(pop(), args)); break; } // NEWOBJ
      case 0x62: { // BUILD: only the state_dict's `_metadata` is expected; the state is dropped
        pop();
        if (!(top() instanceof OrderedDict)) fail(path, 'the pickle sets the state of an object that is not an OrderedDict: refused');
        break;
      }
      case 0x51: stack.push(persistent(pop())); break; // BINPERSID
      default:
        fail(path, `the pickle has opcode 0x${op.toString(16).padStart(2, '0')} at offset ${pos - 1}, which a state_dict does not use: refused or corrupted`);
    }
  }
}

/** The storage a persistent id names: ('storage', torch.<Type>Storage, key, location, numel[, view_metadata]). */
function storageOf(pid: Value, path: string): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) fail(path, 'the pickle has a persistent id that is not a storage');
  const [, type, key, , numel] = pid;
  const kind = type instanceof Global ? STORAGES[type.name.replace(/^torch\./, '')] : undefined;
  if (!kind) fail(path, `storage of unsupported type ${type instanceof Global ? type.name : String(type)}`);
  if (typeof key !== 'string' || !Number.isInteger(numel) || (numel as number) < 0) fail(path, 'a storage has a bad key or size');
  if (pid.length > 5 && pid[5] !== null) fail(path, `storage ${key} is a view of another storage (view_metadata): not supported`);
  return new StorageRef(kind, key, numel as number);
}

/** bfloat16 is float32's upper half: its bits are placed there and read back as a float (no allocation per value). */
const BF16_BITS = new Uint32Array(1);
const BF16_VALUE = new Float32Array(BF16_BITS.buffer);

function readValue(b: Buffer, i: number, dtype: PickledTensor['dtype']): number {
  switch (dtype) {
    case 'F32': return b.readFloatLE(i * 4);
    case 'F64': return b.readDoubleLE(i * 8);
    case 'F16': return halfToFloat(b.readUInt16LE(i * 2));
    case 'BF16':
      BF16_BITS[0] = b.readUInt16LE(i * 2) << 16;
      return BF16_VALUE[0];
    case 'I64': return Number(b.readBigInt64LE(i * 8));
    case 'I32': return b.readInt32LE(i * 4);
    case 'I16': return b.readInt16LE(i * 2);
    case 'I8': return b.readInt8(i);
    case 'U8': case 'BOOL': return b[i];
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The strided view as a contiguous row-major array (float64 or float32), every index checked against its storage. */
function materialize<A extends Float64Array | Float32Array>(t: Stored, make: (n: number) => A, path: string): A {
  const { name, ref, data } = t;
  const { shape, stride, offset, storage } = ref;
  if (shape.length !== stride.length || shape.some((d) => d < 0)) fail(path, `tensor ${name}: shape [${shape}] and stride [${stride}] do not match`);
  if (data.length < storage.numel * storage.kind.bytes) fail(path, `storage ${storage.key} holds ${data.length} bytes, ${storage.numel} values of ${storage.kind.bytes} bytes expected: truncated`);
  const count = shape.reduce((a, b) => a * b, 1);
  const values = make(count);
  if (count) {
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
    const first = offset + shape.reduce((a, n, d) => a + Math.min(0, (n - 1) * stride[d]), 0);
    if (first < 0 || last >= storage.numel) fail(path, `tensor ${name} reads outside its storage ${storage.key} (${storage.numel} values)`);
  }
  const contiguous = shape.every((_, d) => stride[d] === shape.slice(d + 1).reduce((a, b) => a * b, 1));
  if (contiguous && storage.kind.dtype === 'F32') {  // the weights' common case: one copy of the bytes
    const bytes = data.subarray(offset * 4, (offset + count) * 4);
    values.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
    return values;
  }
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += idx[d] * stride[d];
    values[i] = readValue(data, at, storage.kind.dtype);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return values;
}

/** name -> TensorRef from the unpickled object: a state_dict, or a dict holding one under `state_dict`/`model`. */
function stateDict(obj: Value, path: string): Map<string, TensorRef> {
  let d = obj;
  if (d instanceof Map && !(d instanceof OrderedDict)) d = d.get('state_dict') ?? d.get('model') ?? d;
  if (!(d instanceof Map)) fail(path, 'the checkpoint holds no state_dict (a dict of tensors)');
  const out = new Map<string, TensorRef>();
  for (const [k, v] of d) {
    if (typeof k !== 'string') fail(path, 'a state_dict key is not a string');
    if (v instanceof TensorRef) out.set(k, v);
  }
  return out;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** A state_dict entry: its view and the bytes of its storage. */
interface Stored {
  name: string;
  ref: TensorRef;
  data: Buffer;
}

/** Every tensor of a torch.save'd state_dict, in its own dtype (zip or legacy format). */
export function readPytorchBin(path: string): Map<string, PickledTensor> {
  return new Map(readStored(path).map((t) => [t.name, { dtype: t.ref.storage.kind.dtype, shape: [...t.ref.shape], values: materialize(t, (n) => new Float64Array(n), path) }]));
}

/** A checkpoint's floating-point tensors as float32 (the weights); integer tensors (position_ids buffers) are left out. */
export function readPytorchWeights(path: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const t of readStored(path)) {
    const dtype = t.ref.storage.kind.dtype;
    if (dtype.startsWith('F') || dtype === 'BF16') out.set(t.name, { dtype, shape: [...t.ref.shape], data: materialize(t, (n) => new Float32Array(n), path) });
  }
  return out;
}

function readStored(path: string): Stored[] {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as Error).message}`);
  }
  const out: Stored[] = [];
  if (buf.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) {
    let zip: AdmZip;
    try {
      zip = new AdmZip(buf);
    } catch (e) {
      throw new Error(`${path}: not a readable zip archive: ${(e as Error).message}`);
    }
    const entries = zip.getEntries();
    const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.entryName));
    if (!pkl) fail(path, 'the zip archive has no <name>/data.pkl: not a PyTorch checkpoint');
    const root = pkl.entryName.slice(0, -'data.pkl'.length);
    const order = entries.find((e) => e.entryName === `${root}byteorder`);
    if (order && order.getData().toString('latin1').trim() !== 'little') fail(path, 'the checkpoint is big-endian: not supported');
    const data = (e: AdmZip.IZipEntry) => {
      try {
        return e.getData();
      } catch (err) {
        return fail(path, `${e.entryName} cannot be read: ${(err as Error).message}`);
      }
    };
    const storages = new Map<string, Buffer>();
    const { value } = unpickle(data(pkl), 0, path, (pid) => storageOf(pid, path));
    for (const [name, t] of stateDict(value, path)) {
      const key = t.storage.key;
      if (!storages.has(key)) {
        const e = zip.getEntry(`${root}data/${key}`);
        if (!e) fail(path, `storage ${key} of tensor ${name} is missing from the archive`);
        storages.set(key, data(e));
      }
      out.push({ name, ref: t, data: storages.get(key)! });
    }
    return out;
  }
  // The legacy format: five pickles, then the storages' bytes.
  const magic = unpickle(buf, 0, path, () => fail(path, 'persistent id in the header'));
  if (magic.value !== LEGACY_MAGIC) fail(path, 'neither a zip archive nor a legacy PyTorch checkpoint (no magic number)');
  const version = unpickle(buf, magic.end, path, () => fail(path, 'persistent id in the header'));
  if (version.value !== 1001) fail(path, `legacy checkpoint protocol version ${String(version.value)} is not 1001`);
  const sysInfo = unpickle(buf, version.end, path, () => fail(path, 'persistent id in the header'));
  const info = sysInfo.value instanceof Map ? sysInfo.value : undefined;
  if (info && info.get('little_endian') === false) fail(path, 'the checkpoint is big-endian: not supported');
  const byKey = new Map<string, StorageRef>();
  const obj = unpickle(buf, sysInfo.end, path, (pid) => {
    const s = storageOf(pid, path);
    const known = byKey.get(s.key);
    if (known && (known.kind !== s.kind || known.numel !== s.numel)) fail(path, `storage ${s.key} is named with two types or sizes`);
    byKey.set(s.key, s);
    return s;
  });
  const keys = unpickle(buf, obj.end, path, () => fail(path, 'persistent id in the storage list'));
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) fail(path, 'the storage key list is not a list of names');
  let pos = keys.end;
  const storages = new Map<string, Buffer>();
  for (const key of keys.value as string[]) {
    const s = byKey.get(key);
    if (!s) fail(path, `the storage list names ${key}, which no tensor uses`);
    if (pos + 8 > buf.length) fail(path, `storage ${key} is truncated`);
    const numel = Number(buf.readBigInt64LE(pos));
    if (numel !== s.numel) fail(path, `storage ${key} holds ${numel} values, its tensors say ${s.numel}`);
    pos += 8;
    const n = numel * s.kind.bytes;
    if (pos + n > buf.length) fail(path, `storage ${key} is truncated (${buf.length - pos} of ${n} bytes)`);
    storages.set(key, buf.subarray(pos, pos + n));
    pos += n;
  }
  for (const [name, t] of stateDict(obj.value, path)) {
    const data = storages.get(t.storage.key);
    if (!data) fail(path, `storage ${t.storage.key} of tensor ${name} is missing`);
    out.push({ name, ref: t, data });
  }
  return out;
}
