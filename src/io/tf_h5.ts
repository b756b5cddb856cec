import { readFileSync } from 'node:fs';
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
  let file: File;
  try {
    const buf = readFileSync(path);
    file = new File(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), path);
  } catch (e) {
    throw new Error(`${path}: not a readable HDF5 file (${e instanceof Error ? e.message : String(e)})`);
  }
  const out = new Map<string, Tensor>();
  const layers = stringList(file.attrs, 'layer_names', path);
  for (const layer of layers) {
    const group = file.get(layer) as Group;
    for (const variable of stringList(group.attrs, 'weight_names', `${path}: layer ${layer}`)) {
      let d: Dataset;
      try {
        d = group.get(variable) as Dataset;
      } catch {
        throw new Error(`${path}: layer ${layer} lists the TF variable ${variable}, which the file does not hold`);
      }
      const { name, transpose } = pytorchName(variable);
      const values = d.value;
      if (!d.shape || values.length !== d.shape.reduce((a, b) => a * b, 1)) throw new Error(`${path}: TF variable ${variable} has no numeric data`);
      const shape = transpose ? [d.shape[1], d.shape[0]] : [...d.shape];
      out.set(name, { dtype: 'F32', shape, data: transpose ? transposed(values, d.shape[0], d.shape[1]) : Float32Array.from(values), origin: variable });
    }
  }
  return out;
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
