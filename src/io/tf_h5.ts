import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { Dataset, File, Group } from 'jsfive';
import { Tensor } from './safetensors';

/**
 * The weights of a transformers TensorFlow model (`tf_model.h5`, as Keras 2 `save_weights`
 * writes it for `TFDistilBertForSequenceClassification.save_pretrained`) as tensors with
 * PyTorch's names and layouts, the conversion transformers itself does:
 * root attribute `layer_names` (or `layer_names0`, `layer_names1`, ... where Keras split a long
 * list), each layer group's `weight_names`, each weight a dataset at its full variable name;
 * names lose `:0` and their first component (the model's own name), `layer_._N` becomes
 * `layer.N`, `kernel` becomes `weight` (transposed: Dense kernels are [in, out]), `gamma`/`beta`
 * become `weight`/`bias`, and `embeddings` becomes `weight`.
 */
export function readTfH5(path: string): Map<string, Tensor> {
  let bytes: number;
  try {
    bytes = statSync(path).size;
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as Error).message}`);
  }
  // The HDF5 reader runs in a worker with a deadline: a corrupt file (cyclic pointers) cannot hang
  // the process. The caller waits on it synchronously, as the rest of model loading is synchronous.
  const done = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(join(__dirname, 'tf_h5_worker.js'), { workerData: { path, done, port: port2 }, transferList: [port2] });
  const seconds = 3 + (60 * bytes) / 2 ** 30;
  Atomics.wait(done, 0, 0, seconds * 1000);
  const answer = receiveMessageOnPort(port1)?.message as { tensors?: NamedTensor[]; error?: string } | undefined;
  port1.close();
  void worker.terminate();
  if (!answer) throw new Error(`${path}: not a readable tf_model.h5 (no answer within ${seconds.toFixed(0)} s: corrupt, e.g. pointers that loop)`);
  if (answer.error !== undefined) throw new Error(answer.error);
  return new Map(answer.tensors!.map(({ name, ...t }) => [name, t]));
}

type NamedTensor = Tensor & { name: string };

/** How Keras stores floats: little-endian IEEE half, single or double. */
const FLOAT_DTYPES: Record<string, number> = { '<f2': 2, '<f4': 4, '<f8': 8 };

/**
 * The reading itself (run by tf_h5_worker.ts): every failure is one line naming the file. Each
 * dataset's dtype, shape and stored size are checked before its data is read.
 */
export function parseTfH5(path: string): NamedTensor[] {
  const unreadable = (why: string) => new Error(`${path}: not a readable tf_model.h5 (${why})`);
  let file: File;
  let buffer: ArrayBuffer;
  try {
    const buf = readFileSync(path);
    buffer = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    file = new File(buffer, path);
  } catch (e) {
    throw unreadable(`not HDF5, or truncated: ${message(e)}`);
  }
  const out: NamedTensor[] = [];
  let where = 'the root attributes';
  try {
    const layers = stringList(file.attrs, 'layer_names', path);
    for (const layer of layers) {
      where = `layer ${layer}`;
      const group = file.get(layer) as Group;
      for (const variable of stringList(group.attrs, 'weight_names', `${path}: layer ${layer}`)) {
        where = `TF variable ${variable}`;
        let d: Dataset;
        try {
          d = group.get(variable) as Dataset;
        } catch {
          throw new Error(`${path}: layer ${layer} lists the TF variable ${variable}, which the file does not hold`);
        }
        const width = FLOAT_DTYPES[typeof d.dtype === 'string' ? d.dtype : ''];
        if (!width) throw new Error(`${path}: TF variable ${variable} is stored as ${JSON.stringify(d.dtype)}, not as little-endian floats (F16, F32, F64): refused`);
        const shape = d.shape;
        if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0) || (shape.length !== 1 && shape.length !== 2)) {
          throw new Error(`${path}: TF variable ${variable} has shape ${JSON.stringify(shape)}, not a vector or matrix`);
        }
        const count = shape.reduce((a, b) => a * b, 1);
        const stored = storedBytes(d, buffer);
        if (count * width > buffer.byteLength || (stored !== undefined && stored !== count * width)) {
          throw new Error(`${path}: TF variable ${variable} claims ${count} values of ${width} bytes, but stores ${stored ?? 'fewer'} bytes: truncated or corrupt`);
        }
        const values = d.value;
        if (values.length !== count) throw new Error(`${path}: TF variable ${variable} has no numeric data`);
        const { name, transpose } = pytorchName(variable);
        out.push({ name, dtype: 'F32', shape: transpose ? [shape[1], shape[0]] : [...shape], data: transpose ? transposed(values, shape[0], shape[1]) : Float32Array.from(values), origin: variable });
      }
    }
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(`${path}:`)) throw e;
    throw unreadable(`${where}: ${message(e)}`);
  }
  return out;
}

/** jsfive throws strings as well as errors; one line either way. */
function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 200);
}

/**
 * The bytes a dataset's contiguous layout says it stores (layout message version 3: address, then
 * size), or undefined for other layouts, whose reading checks its own bounds.
 */
function storedBytes(d: Dataset, buffer: ArrayBuffer): number | undefined {
  const objects = (d as unknown as { _dataobjects?: { find_msg_type(t: number): { get(k: string): number }[] } })._dataobjects;
  const msg = objects?.find_msg_type(8)[0];
  if (!msg) return undefined;
  const at = msg.get('offset_to_message');
  const view = new DataView(buffer);
  if (at + 18 > buffer.byteLength || view.getUint8(at) !== 3 || view.getUint8(at + 1) !== 1) return undefined;
  return Number(view.getBigUint64(at + 10, true));
}

/** An attribute holding a list of names, whole or split as name0, name1, ...; NUL padding removed. */
export function stringList(attrs: Record<string, unknown>, key: string, where: string): string[] {
  const parts: unknown[] = [];
  if (attrs[key] !== undefined) parts.push(attrs[key]);
  for (let i = 0; attrs[`${key}${i}`] !== undefined; i++) parts.push(attrs[`${key}${i}`]);
  if (!parts.length) throw new Error(`${where}: no ${key} attribute: not a Keras weights file`);
  return parts.flatMap((p) => (Array.isArray(p) ? p : [p])).map((s) => String(s).replace(/\0+$/, ''));
}

/** transformers' TF -> PyTorch name rule (modeling_tf_pytorch_utils), and whether to transpose. */
export function pytorchName(variable: string): { name: string; transpose: boolean } {
  const parts = variable.replace(/:0$/, '').replace(/layer_\._(\d+)/g, 'layer.$1').split('/').slice(1);
  const last = parts[parts.length - 1];
  const transpose = last === 'kernel';
  parts[parts.length - 1] = last === 'kernel' || last === 'gamma' || last === 'embeddings' ? 'weight' : last === 'beta' ? 'bias' : last;
  return { name: parts.join('.'), transpose };
}

function transposed(values: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = values[r * cols + c];
  return t;
}

/** The TF variable that `name` (a PyTorch name) comes from, after the model's own name: for messages. */
export function tfVariableFor(name: string): string {
  const parts = name.split('.').map((p, i, all) => (p === 'layer' && /^\d+$/.test(all[i + 1] ?? '') ? `layer_._${all[i + 1]}` : p))
    .filter((p, i, all) => !(/^\d+$/.test(p) && all[i - 1]?.startsWith('layer_._')));
  const owner = parts[parts.length - 2] ?? '';
  const last = parts[parts.length - 1];
  if (last === 'weight') {
    parts[parts.length - 1] = /norm/i.test(owner) ? 'gamma' : owner === 'position_embeddings' ? 'embeddings' : owner === 'word_embeddings' ? 'weight' : 'kernel';
  } else if (last === 'bias' && /norm/i.test(owner)) {
    parts[parts.length - 1] = 'beta';
  }
  return `…/${parts.join('/')}:0`;
}
