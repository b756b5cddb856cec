import { DistilBertConfig } from '../io/config';
import { Tensor } from '../io/safetensors';

/** Where one named parameter lives in the flat buffer. Names and shapes mirror Hugging Face's. */
export interface ParamSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/**
 * Parameter names of one transformer layer, relative to `distilbert.transformer.layer.N.`.
 * The q, k and v weights (then their biases) are adjacent, so that the three projections run as
 * one matrix product over a [3*dim, dim] weight.
 */
export const LAYER_PARAMS = [
  'attention.q_lin.weight', 'attention.k_lin.weight', 'attention.v_lin.weight',
  'attention.q_lin.bias', 'attention.k_lin.bias', 'attention.v_lin.bias',
  'attention.out_lin.weight', 'attention.out_lin.bias',
  'sa_layer_norm.weight', 'sa_layer_norm.bias',
  'ffn.lin1.weight', 'ffn.lin1.bias',
  'ffn.lin2.weight', 'ffn.lin2.bias',
  'output_layer_norm.weight', 'output_layer_norm.bias',
] as const;

export const layerPrefix = (l: number): string => `distilbert.transformer.layer.${l}.`;

/** The ordered list of every parameter of DistilBertForSequenceClassification with its shape. */
export function paramShapes(c: DistilBertConfig): [string, number[]][] {
  const D = c.dim, F = c.hiddenDim, C = c.id2label.length;
  const shapes: [string, number[]][] = [
    ['distilbert.embeddings.word_embeddings.weight', [c.vocabSize, D]],
    ['distilbert.embeddings.position_embeddings.weight', [c.maxPositionEmbeddings, D]],
    ['distilbert.embeddings.LayerNorm.weight', [D]],
    ['distilbert.embeddings.LayerNorm.bias', [D]],
  ];
  const layerShape: Record<(typeof LAYER_PARAMS)[number], number[]> = {
    'attention.q_lin.weight': [D, D], 'attention.q_lin.bias': [D],
    'attention.k_lin.weight': [D, D], 'attention.k_lin.bias': [D],
    'attention.v_lin.weight': [D, D], 'attention.v_lin.bias': [D],
    'attention.out_lin.weight': [D, D], 'attention.out_lin.bias': [D],
    'sa_layer_norm.weight': [D], 'sa_layer_norm.bias': [D],
    'ffn.lin1.weight': [F, D], 'ffn.lin1.bias': [F],
    'ffn.lin2.weight': [D, F], 'ffn.lin2.bias': [D],
    'output_layer_norm.weight': [D], 'output_layer_norm.bias': [D],
  };
  for (let l = 0; l < c.nLayers; l++) {
    for (const p of LAYER_PARAMS) shapes.push([layerPrefix(l) + p, layerShape[p]]);
  }
  shapes.push(['pre_classifier.weight', [D, D]], ['pre_classifier.bias', [D]], ['classifier.weight', [C, D]], ['classifier.bias', [C]]);
  return shapes;
}

/** All parameters in one flat Float32Array (llm.c style); gradients and Adam moments reuse the layout. */
export class ParamStore {
  readonly slots: ParamSlot[];
  readonly byName: Map<string, ParamSlot>;
  readonly data: Float32Array;

  constructor(readonly config: DistilBertConfig, data?: Float32Array) {
    let offset = 0;
    this.slots = paramShapes(config).map(([name, shape]) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const slot = { name, shape, offset, size };
      offset += size;
      return slot;
    });
    this.byName = new Map(this.slots.map((s) => [s.name, s]));
    if (data && data.length !== offset) throw new Error(`parameter buffer has ${data.length} values, the model needs ${offset}`);
    this.data = data ?? new Float32Array(offset);
  }

  get size(): number {
    return this.data.length;
  }

  /** A view (no copy) of one parameter. */
  get(name: string): Float32Array {
    const s = this.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return this.data.subarray(s.offset, s.offset + s.size);
  }

  /** A view of `count` values from the start of parameter `first` on, across adjacent parameters. */
  span(first: string, count: number): Float32Array {
    const s = this.byName.get(first);
    if (!s || s.offset + count > this.data.length) throw new Error(`no span of ${count} values at ${first}`);
    return this.data.subarray(s.offset, s.offset + count);
  }

  /** A store of the same layout over a new zeroed buffer (gradients, optimizer moments). */
  like(): ParamStore {
    return new ParamStore(this.config);
  }

  /**
   * Copies tensors in by HF name; a checkpoint of the bare DistilBertModel (names without the
   * `distilbert.` prefix) is accepted too. Returns the parameters that were not found.
   */
  load(tensors: Map<string, Tensor>, source: string): string[] {
    const missing: string[] = [];
    for (const s of this.slots) {
      const t = tensors.get(s.name) ?? tensors.get(s.name.replace(/^distilbert\./, ''));
      if (!t) {
        missing.push(s.name);
        continue;
      }
      if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i])) {
        throw new Error(`${source}: tensor ${s.name} has shape [${t.shape}], config.json implies [${s.shape}]`);
      }
      this.data.set(t.data, s.offset);
    }
    return missing;
  }

  tensors(): { name: string; shape: number[]; data: Float32Array }[] {
    return this.slots.map((s) => ({ name: s.name, shape: s.shape, data: this.get(s.name) }));
  }
}
