import { endianness } from 'node:os';
import { onnx } from 'onnx-proto';

/** Cast's `to` for float32. */
export const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** An attribute value: ints and floats are told apart by the caller (ONNX types them). */
export type Attr = { i: number } | { f: number } | { ints: number[] };

/**
 * A small ONNX graph writer: nodes in topological order, weights as initializers (raw
 * little-endian bytes), value names made unique. It knows nothing of any model.
 */
export class OnnxGraph {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  /** `inputs`: the graph's input names, which no node output may take. */
  constructor(inputs: string[]) {
    for (const n of inputs) this.used.add(n);
    // raw_data is little-endian by the ONNX spec; typed arrays are in the machine's order.
    if (endianness() !== 'LE') throw new Error('ONNX export needs a little-endian machine');
  }

  private unique(hint: string): string {
    let name = hint;
    for (let k = 1; this.used.has(name); k++) name = `${hint}_${k}`;
    this.used.add(name);
    return name;
  }

  /** One node with one output; returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, hint = opType): string {
    return this.opMulti(opType, inputs, 1, attrs, hint)[0];
  }

  /** One node with several outputs (DynamicQuantizeLinear). */
  opMulti(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}, hint = opType): string[] {
    const name = this.unique(`${hint}/${opType}`);
    const out = Array.from({ length: outputs }, (_, k) => this.unique(`${hint}/${opType}_output_${k}`));
    const attribute = Object.entries(attrs).map(([key, v]) => {
      if ('i' in v) return { name: key, type: onnx.AttributeProto.AttributeType.INT, i: v.i };
      if ('f' in v) return { name: key, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.f };
      return { name: key, type: onnx.AttributeProto.AttributeType.INTS, ints: v.ints };
    });
    this.nodes.push({ name, opType, input: inputs, output: out, attribute });
    return out;
  }

  /** Gives a node's output its final name (a graph output). */
  rename(value: string, name: string): void {
    if (this.used.has(name)) throw new Error(`ONNX value name ${name} is taken`);
    for (const node of this.nodes) node.output = node.output!.map((o) => (o === value ? name : o));
    this.used.add(name);
  }

  /** A weight: stored once under its name. */
  tensor(name: string, dims: number[], data: Float32Array | Int8Array | BigInt64Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`ONNX tensor ${name}: ${data.length} values for dims [${dims}]`);
    const dataType =
      data instanceof Float32Array ? onnx.TensorProto.DataType.FLOAT : data instanceof Int8Array ? onnx.TensorProto.DataType.INT8 : onnx.TensorProto.DataType.INT64;
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims, dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return unique;
  }

  /** A small constant, shared by every node that uses the same value. */
  constant(kind: 'float' | 'int64', values: number[], dims: number[] = [values.length]): string {
    const key = `${kind}:${dims}:${values}`;
    const known = this.constants.get(key);
    if (known) return known;
    const data = kind === 'float' ? Float32Array.from(values) : BigInt64Array.from(values.map(BigInt));
    const name = this.tensor(`const_${kind}_${values.length === 1 ? values[0] : this.constants.size}`, dims, data);
    this.constants.set(key, name);
    return name;
  }

  /** The ModelProto's bytes: named float/int64 inputs and outputs with symbolic dimensions. */
  encode(io: { inputs: ValueSpec[]; outputs: ValueSpec[]; opset: number; producer: string; name: string }): Uint8Array {
    const value = (v: ValueSpec): onnx.IValueInfoProto => ({
      name: v.name,
      type: {
        tensorType: {
          elemType: v.type === 'int64' ? onnx.TensorProto.DataType.INT64 : onnx.TensorProto.DataType.FLOAT,
          shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    const model: onnx.IModelProto = {
      // IR 8 is what opsets 17-18 were released with; every current runtime reads it.
      irVersion: onnx.Version.IR_VERSION,
      opsetImport: [{ domain: '', version: io.opset }],
      producerName: io.producer,
      graph: { name: io.name, node: this.nodes, initializer: this.initializers, input: io.inputs.map(value), output: io.outputs.map(value) },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}

export interface ValueSpec {
  name: string;
  type: 'int64' | 'float';
  /** A number for a fixed size, a name for a dynamic axis. */
  dims: (number | string)[];
}
