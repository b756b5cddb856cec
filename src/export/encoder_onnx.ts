import { ModelConfig } from '../model/config';
import { ParamStore } from '../io/params';
import { FLOAT, OnnxGraph } from './onnx_graph';

/**
 * ONNX opset of the export: 17 has LayerNormalization as one op (what ORT fuses into
 * SkipLayerNormalization); transformers.js and onnxruntime-node/web run it.
 */
export const OPSET = 17;

/** float32's most negative value: what HF's DistilBERT and BERT fill masked attention scores with. */
const MASK_FILL = -3.4028234663852886e38;

export interface GraphOptions {
  /**
   * int8 weights: every matrix product as dynamic quantization does it (ORT's quantize_dynamic:
   * activations quantized per tensor to uint8 at run time, weights int8 symmetric, here one scale
   * per output column) and the word embeddings int8 with one scale per row.
   */
  quantize: boolean;
}

/** Symmetric int8 of a [rows, cols] matrix, one scale per row (over `cols`). */
function quantizeRows(w: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    const s = m > 0 ? m / 127 : 1;
    scale[r] = s;
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s)));
  }
  return { q, scale };
}

/** [out, in] (PyTorch's nn.Linear) -> [in, out] (ONNX MatMul's right operand). */
function transpose<T extends Float32Array | Int8Array>(w: T, out: number, inp: number): T {
  const t = new (w.constructor as new (n: number) => T)(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) t[i * out + o] = w[o * inp + i];
  return t;
}

/** The parameter names the graph reads, by architecture (HF's, as the engine's table has them). */
function names(config: ModelConfig) {
  if (config.modelType === 'bert') {
    return {
      emb: 'bert.embeddings',
      layer: (l: number) => {
        const p = `bert.encoder.layer.${l}`;
        return { p, q: `${p}.attention.self.query`, k: `${p}.attention.self.key`, v: `${p}.attention.self.value`, out: `${p}.attention.output.dense`,
          norm1: `${p}.attention.output.LayerNorm`, ffn1: `${p}.intermediate.dense`, ffn2: `${p}.output.dense`, norm2: `${p}.output.LayerNorm` };
      },
      dense: 'bert.pooler.dense',
    };
  }
  return {
    emb: 'distilbert.embeddings',
    layer: (l: number) => {
      const p = `distilbert.transformer.layer.${l}`;
      return { p, q: `${p}.attention.q_lin`, k: `${p}.attention.k_lin`, v: `${p}.attention.v_lin`, out: `${p}.attention.out_lin`,
        norm1: `${p}.sa_layer_norm`, ffn1: `${p}.ffn.lin1`, ffn2: `${p}.ffn.lin2`, norm2: `${p}.output_layer_norm` };
    },
    dense: 'pre_classifier',
  };
}

/** The graph's inputs: BERT's token_type_ids beside input_ids and attention_mask. */
export function graphInputs(config: ModelConfig): string[] {
  return config.modelType === 'bert' ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask'];
}

/**
 * DistilBertForSequenceClassification or BertForSequenceClassification in eval mode as an ONNX
 * graph, op for op as HF computes it: inputs input_ids and attention_mask (and BERT's
 * token_type_ids; int64 [batch, sequence]), output logits [batch, labels].
 */
export function encoderGraph(config: ModelConfig, params: ParamStore, opts: GraphOptions): OnnxGraph {
  const g = new OnnxGraph(graphInputs(config));
  const n = names(config);
  const f = (...v: number[]): string => g.constant('float', v, []);
  const i64 = (...v: number[]): string => g.constant('int64', v);
  const D = config.dim;
  const H = config.nHeads;
  const Dh = D / H;

  const linear = (x: string, name: string): string => {
    const [out, inp] = params.byName.get(`${name}.weight`)!.shape;
    const w = params.get(`${name}.weight`);
    const b = g.tensor(`${name}.bias`, [out], params.get(`${name}.bias`));
    if (!opts.quantize) return g.op('Add', [g.op('MatMul', [x, g.tensor(`${name}.weight.T`, [inp, out], transpose(w, out, inp))], {}, name), b], {}, name);
    // Rows of PyTorch's [out, in] weight are the output columns of the product.
    const { q, scale } = quantizeRows(w, out, inp);
    const wq = g.tensor(`${name}.weight.T.int8`, [inp, out], transpose(q, out, inp));
    const [xq, xScale, xZero] = g.opMulti('DynamicQuantizeLinear', [x], 3, {}, name);
    const acc = g.op('MatMulInteger', [xq, wq, xZero], {}, name);
    const colScale = g.op('Mul', [xScale, g.tensor(`${name}.weight.scale`, [out], scale)], {}, name);
    const y = g.op('Mul', [g.op('Cast', [acc], { to: { i: FLOAT } }, name), colScale], {}, name);
    return g.op('Add', [y, b], {}, name);
  };
  const layerNorm = (x: string, name: string): string =>
    g.op('LayerNormalization', [x, g.tensor(`${name}.weight`, [D], params.get(`${name}.weight`)), g.tensor(`${name}.bias`, [D], params.get(`${name}.bias`))], { axis: { i: -1 }, epsilon: { f: config.layerNormEps } }, name);
  const activation = (x: string, name: string): string => {
    if (config.activation === 'relu') return g.op('Relu', [x], {}, name);
    if (config.activation === 'gelu') {
      // 0.5 x (1 + erf(x / sqrt 2)): the pattern ORT fuses into one Gelu.
      const erf = g.op('Erf', [g.op('Div', [x, f(Math.SQRT2)], {}, name)], {}, name);
      return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, f(1)], {}, name)], {}, name), f(0.5)], {}, name);
    }
    // gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    const cube = g.op('Mul', [g.op('Pow', [x, f(3)], {}, name), f(0.044715)], {}, name);
    const inner = g.op('Mul', [g.op('Add', [x, cube], {}, name), f(Math.sqrt(2 / Math.PI))], {}, name);
    return g.op('Mul', [g.op('Mul', [x, g.op('Add', [g.op('Tanh', [inner], {}, name), f(1)], {}, name)], {}, name), f(0.5)], {}, name);
  };

  // Embeddings: word rows + position rows 0..S-1 (+ token-type rows), then LayerNorm.
  const emb = n.emb;
  let words: string;
  if (opts.quantize) {
    const { q, scale } = quantizeRows(params.get(`${emb}.word_embeddings.weight`), config.vocabSize, D);
    const rows = g.op('Gather', [g.tensor(`${emb}.word_embeddings.weight.int8`, [config.vocabSize, D], q), 'input_ids'], { axis: { i: 0 } }, emb);
    const rowScale = g.op('Unsqueeze', [g.op('Gather', [g.tensor(`${emb}.word_embeddings.weight.scale`, [config.vocabSize], scale), 'input_ids'], { axis: { i: 0 } }, emb), i64(-1)], {}, emb);
    words = g.op('Mul', [g.op('Cast', [rows], { to: { i: FLOAT } }, emb), rowScale], {}, emb);
  } else {
    words = g.op('Gather', [g.tensor(`${emb}.word_embeddings.weight`, [config.vocabSize, D], params.get(`${emb}.word_embeddings.weight`)), 'input_ids'], { axis: { i: 0 } }, emb);
  }
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids'], {}, emb), g.constant('int64', [1], [])], { axis: { i: 0 } }, emb);
  const positionIds = g.op('Range', [g.constant('int64', [0], []), seqLen, g.constant('int64', [1], [])], {}, emb);
  const positions = g.op('Gather', [g.tensor(`${emb}.position_embeddings.weight`, [config.maxPositionEmbeddings, D], params.get(`${emb}.position_embeddings.weight`)), positionIds], { axis: { i: 0 } }, emb);
  let sum = g.op('Add', [words, positions], {}, emb);
  if (config.modelType === 'bert') {
    const types = g.op('Gather', [g.tensor(`${emb}.token_type_embeddings.weight`, [config.typeVocabSize, D], params.get(`${emb}.token_type_embeddings.weight`)), 'token_type_ids'], { axis: { i: 0 } }, emb);
    sum = g.op('Add', [sum, types], {}, emb);
  }
  let h = layerNorm(sum, `${emb}.LayerNorm`);

  // Additive mask [batch, 1, 1, S]: 0 where attended, float32's minimum where padded.
  const keep = g.op('Cast', ['attention_mask'], { to: { i: FLOAT } }, 'mask');
  const maskBias = g.op('Unsqueeze', [g.op('Mul', [g.op('Sub', [f(1), keep], {}, 'mask'), f(MASK_FILL)], {}, 'mask'), i64(1, 2)], {}, 'mask');
  const headsShape = i64(0, 0, H, Dh);

  for (let l = 0; l < config.nLayers; l++) {
    const L = n.layer(l), p = L.p;
    const heads = (x: string, perm: number[]): string => g.op('Transpose', [g.op('Reshape', [x, headsShape], {}, p)], { perm: { ints: perm } }, p);
    const q = heads(g.op('Div', [linear(h, L.q), f(Math.sqrt(Dh))], {}, p), [0, 2, 1, 3]);
    const k = heads(linear(h, L.k), [0, 2, 3, 1]);
    const v = heads(linear(h, L.v), [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('MatMul', [q, k], {}, p), maskBias], {}, p);
    const context = g.op('MatMul', [g.op('Softmax', [scores], { axis: { i: -1 } }, p), v], {}, p);
    const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: { ints: [0, 2, 1, 3] } }, p), i64(0, 0, D)], {}, p);
    h = layerNorm(g.op('Add', [linear(merged, L.out), h], {}, p), L.norm1);
    const ffn = linear(activation(linear(h, L.ffn1), `${p}.ffn`), L.ffn2);
    h = layerNorm(g.op('Add', [ffn, h], {}, p), L.norm2);
  }

  // Head: the [CLS] row -> pre_classifier -> ReLU (BERT: pooler dense -> tanh) -> classifier.
  const cls = g.op('Gather', [h, g.constant('int64', [0], [])], { axis: { i: 1 } }, 'head');
  const pooled = g.op(config.modelType === 'bert' ? 'Tanh' : 'Relu', [linear(cls, n.dense)], {}, 'head');
  g.rename(linear(pooled, 'classifier'), 'logits');
  return g;
}
