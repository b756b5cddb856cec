import { Activation, ActivationId, engine, Engine } from '../engine/native';
import { DistilBertConfig, LAYER_NORM_EPS } from '../io/config';
import { layerPrefix, ParamStore } from './params';
import { Workspace, WorkspaceViews } from './workspace';

export interface ForwardOptions {
  /** Train mode applies dropout; eval mode (default) does not. */
  train?: boolean;
  /** Base of the dropout random streams for this step (train mode). */
  seed?: number;
  /** Compute every position of the last layer too, so hiddenStates() is complete. */
  allHiddenStates?: boolean;
}

/** What one forward pass leaves for loss() and backward(). */
interface Run {
  ids: Int32Array;
  mask: Int32Array;
  B: number;
  T: number;
  train: boolean;
  seed: number;
  allHidden: boolean;
  v: WorkspaceViews;
  /** The head's input rows [B, D]. */
  cls?: Float32Array;
}

export const WORD_EMBEDDINGS = 'distilbert.embeddings.word_embeddings.weight';

/** Dropout sites of one forward pass; each gets its own counter-based random stream. */
const SITES_PER_LAYER = 2; // attention probabilities, FFN output
const siteSeed = (seed: number, site: number): number => seed * 64 + site;

/**
 * DistilBertForSequenceClassification with explicit forward and backward per layer, as in
 * llm.c: parameters and gradients are flat buffers, activations stay in the workspace between
 * forward and backward, and every numeric step is a native kernel.
 */
export class DistilBert {
  readonly grads: ParamStore;
  private readonly ws: Workspace;
  private readonly eng: Engine;
  private readonly act: ActivationId;
  /** Word-embedding rows that received gradient since the last zeroGrads(). */
  private readonly rowMark: Uint8Array;
  private rowList: number[] = [];
  private last?: Run;

  constructor(readonly config: DistilBertConfig, readonly params: ParamStore) {
    this.grads = params.like();
    this.ws = new Workspace(config);
    this.eng = engine();
    this.act = Activation[config.activation];
    this.rowMark = new Uint8Array(config.vocabSize);
    if (config.nLayers > 0 && config.nLayers * SITES_PER_LAYER + 2 > 64) throw new Error('too many layers for the dropout site numbering');
  }

  private p(name: string): Float32Array {
    return this.params.get(name);
  }

  private g(name: string): Float32Array {
    return this.grads.get(name);
  }

  /**
   * Logits [B, numLabels] for input ids and attention mask, both row-major [B, T].
   * The returned array is a view into the workspace, valid until the next forward.
   */
  forward(ids: Int32Array, mask: Int32Array, B: number, T: number, opts: ForwardOptions = {}): Float32Array {
    const c = this.config, e = this.eng;
    const D = c.dim, C = c.id2label.length, N = B * T;
    if (ids.length !== N || mask.length !== N) throw new Error(`input_ids and attention_mask must both have ${B}x${T} values`);
    if (T > c.maxPositionEmbeddings) throw new Error(`sequence length ${T} exceeds max_position_embeddings ${c.maxPositionEmbeddings}`);
    const train = opts.train ?? false;
    const seed = opts.seed ?? 0;
    const allHidden = opts.allHiddenStates ?? false;
    const v = this.ws.views(B, T);
    const run: Run = { ids, mask, B, T, train, seed, allHidden, v };

    const bad = e.embeddingForward(ids, this.p(WORD_EMBEDDINGS), this.p('distilbert.embeddings.position_embeddings.weight'), v.embSum, B, T, D, c.vocabSize);
    if (bad >= 0) throw new Error(`input id ${ids[bad]} at position ${bad} is outside the vocabulary (0..${c.vocabSize - 1})`);
    e.layerNormForward(v.embSum, this.p('distilbert.embeddings.LayerNorm.weight'), this.p('distilbert.embeddings.LayerNorm.bias'),
      v.embOut, v.embMean, v.embRstd, N, D, LAYER_NORM_EPS);
    if (train && c.dropout > 0) e.dropoutForward(v.embOut, v.embOut, N, D, D, c.dropout, siteSeed(seed, 0));

    let x = v.embOut;
    for (let l = 0; l < c.nLayers; l++) x = this.layerForward(run, l, x);

    // Classification head on the [CLS] (first) position of each sequence.
    const cls = this.queryLen(run, c.nLayers - 1) === T ? this.gatherCls(x, B, T, v.cls) : x;
    run.cls = cls;
    e.linearForward(cls, this.p('pre_classifier.weight'), this.p('pre_classifier.bias'), v.preH, B, D, D);
    e.activationForward(v.preH, v.preA, B * D, Activation.relu);
    if (train && c.seqClassifDropout > 0) e.dropoutForward(v.preA, v.preA, B, D, D, c.seqClassifDropout, siteSeed(seed, 1));
    e.linearForward(v.preA, this.p('classifier.weight'), this.p('classifier.bias'), v.logits, B, D, C);
    this.last = run;
    return v.logits;
  }

  /**
   * Query positions layer l computes per sequence: all T, except in the last layer, where only
   * [CLS] feeds the head: its keys and values still need every position, but its queries,
   * attention output and FFN are needed at [CLS] alone (1 instead of T rows; the logits and
   * gradients are the same). `allHiddenStates` keeps every position, for hiddenStates().
   */
  private queryLen(run: Run, l: number): number {
    return l >= 0 && l === this.config.nLayers - 1 && !run.allHidden ? 1 : run.T;
  }

  /**
   * The fused attention projection of layer l: one [3D, D] matrix product for q, k and v (their
   * weights are adjacent in the parameter buffer), or in a [CLS]-only layer [2D, D] for k and v
   * of every token plus q for the [CLS] rows. Views of `buf` ([N, 3D] or [N, 2D] then [B, D]).
   */
  private qkvViews(buf: Float32Array, l: number, clsOnly: boolean, N: number, B: number, store: ParamStore = this.params) {
    const D = this.config.dim;
    const pre = layerPrefix(l) + 'attention.';
    if (!clsOnly) {
      return {
        W: store.span(pre + 'q_lin.weight', 3 * D * D), b: store.span(pre + 'q_lin.bias', 3 * D),
        q: buf, k: buf.subarray(D), v: buf.subarray(2 * D), kv: buf, ldq: 3 * D, ldkv: 3 * D,
      };
    }
    const kv = buf.subarray(0, 2 * N * D);
    return {
      W: store.span(pre + 'k_lin.weight', 2 * D * D), b: store.span(pre + 'k_lin.bias', 2 * D),
      q: buf.subarray(2 * N * D, 2 * N * D + B * D), k: kv, v: kv.subarray(D), kv, ldq: D, ldkv: 2 * D,
    };
  }

  /** Copies each sequence's [CLS] (first) row of x [B*T, D] into out [B, D]. */
  private gatherCls(x: Float32Array, B: number, T: number, out: Float32Array): Float32Array {
    const D = this.config.dim;
    for (let b = 0; b < B; b++) out.set(x.subarray(b * T * D, b * T * D + D), b * D);
    return out;
  }

  /** Shapes, buffers and parameter accessors of layer l in this run. */
  private layerSetup(run: Run, l: number) {
    const c = this.config;
    const Tq = this.queryLen(run, l);
    return {
      D: c.dim, F: c.hiddenDim, H: c.nHeads, B: run.B, T: run.T, Tq, N: run.B * run.T, Nq: run.B * Tq, v: run.v, L: run.v.layers[l],
      pDrop: run.train ? c.dropout : 0,
      pAttn: run.train ? c.attentionDropout : 0,
      w: (n: string) => this.p(layerPrefix(l) + n),
      g: (n: string) => this.g(layerPrefix(l) + n),
    };
  }

  private layerForward(run: Run, l: number, x: Float32Array): Float32Array {
    const e = this.eng;
    const { D, F, H, B, T, Tq, N, Nq, v, L, pDrop, pAttn, w } = this.layerSetup(run, l);
    // The rows of x whose outputs are computed: all, or each sequence's [CLS] row.
    const xq = Tq < T ? this.gatherCls(x, B, T, v.clsIn) : x;
    const qkv = this.qkvViews(L.qkv, l, Tq < T, N, B);
    if (Tq === T) {
      e.linearForward(x, qkv.W, qkv.b, L.qkv, N, D, 3 * D);
    } else {
      e.linearForward(xq, w('attention.q_lin.weight'), w('attention.q_lin.bias'), qkv.q, Nq, D, D);
      e.linearForward(x, qkv.W, qkv.b, qkv.kv, N, D, 2 * D);
    }
    e.attentionForward(qkv.q, qkv.ldq, qkv.k, qkv.v, qkv.ldkv, run.mask, L.probs, L.ctx, B, Tq, T, D, H, pAttn, siteSeed(run.seed, 2 + l * SITES_PER_LAYER));
    // Sums are formed in place: the attention and FFN outputs themselves are not kept.
    e.linearForward(L.ctx, w('attention.out_lin.weight'), w('attention.out_lin.bias'), L.saSum, Nq, D, D);
    e.add(L.saSum, xq, L.saSum, Nq * D);
    e.layerNormForward(L.saSum, w('sa_layer_norm.weight'), w('sa_layer_norm.bias'), L.saOut, L.saMean, L.saRstd, Nq, D, LAYER_NORM_EPS);
    e.linearForward(L.saOut, w('ffn.lin1.weight'), w('ffn.lin1.bias'), L.h1, Nq, D, F);
    e.activationForward(L.h1, v.act, Nq * F, this.act);
    e.linearForward(v.act, w('ffn.lin2.weight'), w('ffn.lin2.bias'), L.ffnSum, Nq, F, D);
    // Row r of the [CLS]-only block is position r*T of the full tensor: the same dropout draws.
    if (pDrop > 0) e.dropoutForward(L.ffnSum, L.ffnSum, Nq, D, (T / Tq) * D, pDrop, siteSeed(run.seed, 3 + l * SITES_PER_LAYER));
    e.add(L.ffnSum, L.saOut, L.ffnSum, Nq * D);
    e.layerNormForward(L.ffnSum, w('output_layer_norm.weight'), w('output_layer_norm.bias'), L.out, L.outMean, L.outRstd, Nq, D, LAYER_NORM_EPS);
    return L.out.subarray(0, Nq * D);
  }

  /** Rows of the word-embedding gradient that backward() touched since the last zeroGrads(). */
  touchedRows(): Int32Array {
    return Int32Array.from(this.rowList);
  }

  /**
   * Zeroes the gradients: densely for every parameter but the word embeddings, and only the
   * touched rows of those (the other rows are still zero), which saves clearing vocab x dim floats.
   */
  zeroGrads(): void {
    const slot = this.grads.byName.get(WORD_EMBEDDINGS)!;
    const g = this.grads.data;
    g.fill(0, 0, slot.offset);
    g.fill(0, slot.offset + slot.size);
    const rows = this.touchedRows();
    this.eng.zeroRows(this.grads.get(WORD_EMBEDDINGS), rows, rows.length, this.config.dim, this.config.vocabSize);
    for (const r of this.rowList) this.rowMark[r] = 0;
    this.rowList = [];
  }

  /** Hidden states of the last forward (run with allHiddenStates): embeddings output, then each layer's output. */
  hiddenStates(): Float32Array[] {
    if (!this.last?.allHidden) throw new Error('hiddenStates() needs a forward pass with allHiddenStates');
    const v = this.last.v;
    return [v.embOut, ...v.layers.map((L) => L.out)];
  }

  /**
   * Mean cross-entropy of the last forward against labels; fills dLogits for backward(),
   * scaled by `gradScale` (a micro-batch's share of the whole batch when accumulating).
   */
  loss(labels: Int32Array, gradScale = 1): number {
    if (!this.last) throw new Error('loss() needs a forward pass first');
    const { B, v } = this.last;
    if (labels.length !== B) throw new Error(`need ${B} labels, got ${labels.length}`);
    const loss = this.eng.softmaxCrossEntropy(v.logits, labels, v.dLogits, B, this.config.id2label.length);
    if (gradScale !== 1) for (let i = 0; i < v.dLogits.length; i++) v.dLogits[i] *= gradScale;
    return loss;
  }

  /** Adds the gradients of the last loss() to `grads` (zeroGrads() clears them between steps). */
  backward(): void {
    const run = this.last;
    if (!run?.cls) throw new Error('backward() needs forward() and loss() first');
    const c = this.config, e = this.eng;
    const D = c.dim, C = c.id2label.length;
    const { ids, B, T, train, seed, v } = run;
    const N = B * T;

    // Head.
    e.linearBackward(v.dLogits, v.preA, this.p('classifier.weight'), v.dPre, 0, this.g('classifier.weight'), this.g('classifier.bias'), B, D, C);
    if (train && c.seqClassifDropout > 0) e.dropoutBackward(v.dPre, v.dPre, B, D, D, c.seqClassifDropout, siteSeed(seed, 1));
    e.activationBackward(v.dPre, v.preH, v.dPre, B * D, Activation.relu);
    e.linearBackward(v.dPre, run.cls, this.p('pre_classifier.weight'), v.dCls, 0, this.g('pre_classifier.weight'), this.g('pre_classifier.bias'), B, D, D);

    // dX: gradient of the current layer's output, [CLS] rows only after the head.
    let dX = v.dCls;
    if (this.queryLen(run, c.nLayers - 1) === T) {
      dX = v.dA;
      dX.fill(0);
      for (let b = 0; b < B; b++) dX.set(v.dCls.subarray(b * D, b * D + D), b * T * D);
    }
    for (let l = c.nLayers - 1; l >= 0; l--) dX = this.layerBackward(run, l, dX);

    if (train && c.dropout > 0) e.dropoutBackward(dX, dX, N, D, D, c.dropout, siteSeed(seed, 0));
    e.layerNormBackward(dX, v.embSum, this.p('distilbert.embeddings.LayerNorm.weight'), v.embMean, v.embRstd, v.dB,
      this.g('distilbert.embeddings.LayerNorm.weight'), this.g('distilbert.embeddings.LayerNorm.bias'), N, D);
    for (const id of ids) {
      if (!this.rowMark[id]) {
        this.rowMark[id] = 1;
        this.rowList.push(id);
      }
    }
    // Sinusoidal position embeddings are fixed in HF (no gradient).
    e.embeddingBackward(ids, v.dB, this.g(WORD_EMBEDDINGS),
      c.sinusoidalPosEmbds ? null : this.g('distilbert.embeddings.position_embeddings.weight'), B, T, D, c.vocabSize);
  }

  /** Backward through layer l given the gradient of its output; returns the gradient of its input (in v.dA). */
  private layerBackward(run: Run, l: number, dOut: Float32Array): Float32Array {
    const e = this.eng;
    const { D, F, H, B, T, Tq, N, Nq, v, L, pDrop, pAttn, w, g } = this.layerSetup(run, l);
    const xIn = l === 0 ? v.embOut : v.layers[l - 1].out;
    const xq = Tq < T ? this.gatherCls(xIn, B, T, v.clsIn) : xIn;
    const dSa = v.dB.subarray(0, Nq * D);
    // out = LN(ffn + saOut): the sum's gradient goes to both terms.
    e.layerNormBackward(dOut, L.ffnSum, w('output_layer_norm.weight'), L.outMean, L.outRstd, dSa,
      g('output_layer_norm.weight'), g('output_layer_norm.bias'), Nq, D);
    let dFfn = dSa;
    if (pDrop > 0) {
      dFfn = v.dH2.subarray(0, Nq * D);
      e.dropoutBackward(dSa, dFfn, Nq, D, (T / Tq) * D, pDrop, siteSeed(run.seed, 3 + l * SITES_PER_LAYER));
    }
    // The activation was not kept: recomputing it costs far less memory than storing it per layer.
    e.activationForward(L.h1, v.act, Nq * F, this.act);
    e.linearBackward(dFfn, v.act, w('ffn.lin2.weight'), v.dA1, 0, g('ffn.lin2.weight'), g('ffn.lin2.bias'), Nq, F, D);
    e.activationBackward(v.dA1, L.h1, v.dA1, Nq * F, this.act);
    // dSa (= d saOut from the residual) += lin1's input gradient.
    e.linearBackward(v.dA1, L.saOut, w('ffn.lin1.weight'), dSa, 1, g('ffn.lin1.weight'), g('ffn.lin1.bias'), Nq, D, F);
    // saOut = LN(attention output + xq); dRes: the gradient of that sum.
    const dRes = Tq < T ? v.dRes : v.dA;
    e.layerNormBackward(dSa, L.saSum, w('sa_layer_norm.weight'), L.saMean, L.saRstd, dRes,
      g('sa_layer_norm.weight'), g('sa_layer_norm.bias'), Nq, D);
    e.linearBackward(dRes, L.ctx, w('attention.out_lin.weight'), v.dCtx, 0, g('attention.out_lin.weight'), g('attention.out_lin.bias'), Nq, D, D);
    const qkv = this.qkvViews(L.qkv, l, Tq < T, N, B);
    const dqkv = this.qkvViews(v.dQKV, l, Tq < T, N, B, this.grads);
    e.attentionBackward(v.dCtx, qkv.q, qkv.ldq, qkv.k, qkv.v, qkv.ldkv, L.probs, dqkv.q, dqkv.k, dqkv.v, B, Tq, T, D, H, pAttn,
      siteSeed(run.seed, 2 + l * SITES_PER_LAYER));
    // The input gradient: the residual's, plus what the projections send back.
    const dIn = v.dA;
    if (Tq === T) {
      // dIn already holds the residual's gradient (dRes is dIn).
      e.linearBackward(v.dQKV, xIn, qkv.W, dIn, 1, dqkv.W, dqkv.b, N, D, 3 * D);
    } else {
      e.linearBackward(dqkv.q, xq, w('attention.q_lin.weight'), v.dClsIn, 0, g('attention.q_lin.weight'), g('attention.q_lin.bias'), Nq, D, D);
      e.add(v.dClsIn, dRes, v.dClsIn, Nq * D);
      dIn.fill(0);
      for (let b = 0; b < B; b++) dIn.set(v.dClsIn.subarray(b * D, b * D + D), b * T * D);
      e.linearBackward(dqkv.kv, xIn, qkv.W, dIn, 1, dqkv.W, dqkv.b, N, D, 2 * D);
    }
    return dIn;
  }
}
