import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic';

/** One tensor as read from a safetensors file, converted to float32. */
export interface Tensor {
  dtype: string;
  shape: number[];
  data: Float32Array;
  /** The name in the file it came from, where it differs (a TensorFlow variable). */
  origin?: string;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function fail(path: string, msg: string): never {
  throw new Error(`${path}: ${msg}`);
}

/**
 * Where a tensor's values go: a Float32Array of exactly its element count (a slot of a parameter
 * store, so that weights are read straight into place), or undefined for a new array.
 */
export type Destination = (name: string, shape: number[], dtype: string) => Float32Array | undefined;

/** Reads every tensor of a safetensors file (F32, F16, BF16, F64), checking the file's structure. */
export function readSafetensors(path: string, into?: Destination): Map<string, Tensor> {
  return readSafetensorsWithMetadata(path, into).tensors;
}

/**
 * The tensors and the free-form string metadata (`__metadata__`) of a safetensors file. The file
 * is read tensor by tensor, never whole: loading a model needs no second copy of its weights.
 */
export function readSafetensorsWithMetadata(path: string, into?: Destination): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    fail(path, `cannot read: ${(e as Error).message}`);
  }
  try {
    return readOpen(path, fd, into);
  } finally {
    closeSync(fd);
  }
}

/** Reads exactly `length` bytes at `position` (a short read is a truncated file). */
function readAt(path: string, fd: number, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) fail(path, `truncated: ended at byte ${position + done}`);
    done += n;
  }
}

function readOpen(path: string, fd: number, into?: Destination): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const fileLen = fstatSync(fd).size;
  if (fileLen < 8) fail(path, `not a safetensors file: ${fileLen} bytes, shorter than the 8-byte header length`);
  const lenBytes = Buffer.alloc(8);
  readAt(path, fd, lenBytes, 0);
  const headerLen = Number(lenBytes.readBigUInt64LE(0));
  if (headerLen > fileLen - 8) fail(path, `truncated or corrupt: header says ${headerLen} bytes but the file has ${fileLen - 8} after it`);
  const headerBytes = Buffer.alloc(headerLen);
  readAt(path, fd, headerBytes, 8);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (e) {
    fail(path, `corrupt header (invalid JSON): ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(path, 'corrupt header: not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = fileLen - dataStart;
  const out = new Map<string, Tensor>();
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(path, `tensor ${name}: header entry is not an object`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string') fail(path, `tensor ${name}: missing dtype`);
    const size = DTYPE_BYTES[e.dtype];
    if (!size) fail(path, `tensor ${name}: unsupported dtype ${e.dtype} (supported: F32, F16, BF16, F64)`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(path, `tensor ${name}: bad shape`);
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
      fail(path, `tensor ${name}: bad data_offsets`);
    }
    const [begin, end] = offs as [number, number];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * size) fail(path, `tensor ${name}: ${end - begin} bytes do not hold shape [${shape}] of ${e.dtype}`);
    if (end > dataLen) fail(path, `truncated: tensor ${name} ends at byte ${end} of a ${dataLen}-byte data section`);
    spans.push({ name, begin, end });
  }
  // As the reference implementation requires: the tensors tile the data section exactly, with no
  // overlap, aliasing or gap.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const s of spans) {
    if (s.begin !== at) fail(path, `tensor ${s.name}: data_offsets [${s.begin}, ${s.end}] ${s.begin < at ? 'overlap another tensor' : `leave a gap after byte ${at}`}`);
    at = s.end;
  }
  if (at !== dataLen) fail(path, `the data section has ${dataLen} bytes but the tensors cover ${at}`);
  for (const s of spans) {
    const e = header[s.name] as { dtype: string; shape: number[] };
    const count = (s.end - s.begin) / DTYPE_BYTES[e.dtype];
    const dest = into?.(s.name, e.shape, e.dtype) ?? new Float32Array(count);
    if (dest.length !== count) fail(path, `tensor ${s.name}: ${count} values for a destination of ${dest.length}`);
    if (e.dtype === 'F32') {
      readAt(path, fd, new Uint8Array(dest.buffer, dest.byteOffset, dest.byteLength), dataStart + s.begin);
    } else {
      const raw = Buffer.alloc(s.end - s.begin);
      readAt(path, fd, raw, dataStart + s.begin);
      decode(raw, dest, e.dtype);
    }
    out.set(s.name, { dtype: e.dtype, shape: e.shape, data: dest });
  }
  return { tensors: out, metadata };
}

/** Converts F64/BF16/F16 values to float32 into `out`. */
function decode(buf: Buffer, out: Float32Array, dtype: string): void {
  const count = out.length, at = 0;
  switch (dtype) {
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = buf.readDoubleLE(at + i * 8);
      break;
    case 'BF16': {
      const u32 = new Uint32Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) u32[i] = buf.readUInt16LE(at + i * 2) << 16;
      break;
    }
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(buf.readUInt16LE(at + i * 2));
      break;
  }
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * Writes F32 tensors as safetensors, atomically: a temporary file in the same folder, fsync,
 * then rename, so an interrupted write never leaves a half-written model behind.
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${t.name}: ${t.data.length} values do not fit shape [${t.shape}]`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // data starts 8-byte aligned
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8, 'utf8');
  writeFileAtomic(path, [head, ...tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}
