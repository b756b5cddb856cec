import { Activation, ActivationId, engine, Engine } from '../engine/native';
import { DistilBertConfig, LAYER_NORM_EPS } from '../io/config';
import { layerPrefix, ParamStore } from './params';
import { Workspace, WorkspaceViews } from './workspace';

export interface ForwardOptions {
  /** Train mode applies dropout; eval mode (default) does not. */
  train?: boolean;
  /** Base of the dropout random streams for this step (train mode). */
  seed?: number;
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
  private last?: { ids: Int32Array; mask: Int32Array; B: number; T: number; train: boolean; seed: number; v: WorkspaceViews };

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
    const { dim: D, hiddenDim: F, nHeads: H } = c;
    const C = c.id2label.length;
    const N = B * T;
    if (ids.length !== N || mask.length !== N) throw new Error(`input_ids and attention_mask must both have ${B}x${T} values`);
    if (T > c.maxPositionEmbeddings) throw new Error(`sequence length ${T} exceeds max_position_embeddings ${c.maxPositionEmbeddings}`);
    const train = opts.train ?? false;
    const seed = opts.seed ?? 0;
    const pDrop = train ? c.dropout : 0;
    const pAttn = train ? c.attentionDropout : 0;
    const pHead = train ? c.seqClassifDropout : 0;
    const v = this.ws.views(B, T);

    const bad = e.embeddingForward(ids, this.p(WORD_EMBEDDINGS),
      this.p('distilbert.embeddings.position_embeddings.weight'), v.embSum, B, T, D, c.vocabSize);
    if (bad >= 0) throw new Error(`input id ${ids[bad]} at position ${bad} is outside the vocabulary (0..${c.vocabSize - 1})`);
    e.layerNormForward(v.embSum, this.p('distilbert.embeddings.LayerNorm.weight'), this.p('distilbert.embeddings.LayerNorm.bias'),
      v.embOut, v.embMean, v.embRstd, N, D, LAYER_NORM_EPS);
    if (pDrop > 0) e.dropoutForward(v.embOut, v.embOut, N * D, pDrop, siteSeed(seed, 0));

    let x = v.embOut;
    for (let l = 0; l < c.nLayers; l++) {
      const L = v.layers[l];
      const w = (n: string) => this.p(layerPrefix(l) + n);
      e.linearForward(x, w('attention.q_lin.weight'), w('attention.q_lin.bias'), L.q, N, D, D);
      e.linearForward(x, w('attention.k_lin.weight'), w('attention.k_lin.bias'), L.k, N, D, D);
      e.linearForward(x, w('attention.v_lin.weight'), w('attention.v_lin.bias'), L.v, N, D, D);
      e.attentionForward(L.q, L.k, L.v, mask, L.probs, L.ctx, B, T, D, H, pAttn, siteSeed(seed, 2 + l * SITES_PER_LAYER));
      // Sums are formed in place: the attention and FFN outputs themselves are not kept.
      e.linearForward(L.ctx, w('attention.out_lin.weight'), w('attention.out_lin.bias'), L.saSum, N, D, D);
      e.add(L.saSum, x, L.saSum, N * D);
      e.layerNormForward(L.saSum, w('sa_layer_norm.weight'), w('sa_layer_norm.bias'), L.saOut, L.saMean, L.saRstd, N, D, LAYER_NORM_EPS);
      e.linearForward(L.saOut, w('ffn.lin1.weight'), w('ffn.lin1.bias'), L.h1, N, D, F);
      e.activationForward(L.h1, v.act, N * F, this.act);
      e.linearForward(v.act, w('ffn.lin2.weight'), w('ffn.lin2.bias'), L.ffnSum, N, F, D);
      if (pDrop > 0) e.dropoutForward(L.ffnSum, L.ffnSum, N * D, pDrop, siteSeed(seed, 3 + l * SITES_PER_LAYER));
      e.add(L.ffnSum, L.saOut, L.ffnSum, N * D);
      e.layerNormForward(L.ffnSum, w('output_layer_norm.weight'), w('output_layer_norm.bias'), L.out, L.outMean, L.outRstd, N, D, LAYER_NORM_EPS);
      x = L.out;
    }

    // Classification head on the [CLS] (first) position of each sequence.
    for (let b = 0; b < B; b++) v.cls.set(x.subarray(b * T * D, b * T * D + D), b * D);
    e.linearForward(v.cls, this.p('pre_classifier.weight'), this.p('pre_classifier.bias'), v.preH, B, D, D);
    e.activationForward(v.preH, v.preA, B * D, Activation.relu);
    if (pHead > 0) e.dropoutForward(v.preA, v.preA, B * D, pHead, siteSeed(seed, 1));
    e.linearForward(v.preA, this.p('classifier.weight'), this.p('classifier.bias'), v.logits, B, D, C);
    this.last = { ids, mask, B, T, train, seed, v };
    return v.logits;
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

  /** Hidden states of the last forward: embeddings output, then each layer's output. */
  hiddenStates(): Float32Array[] {
    if (!this.last) throw new Error('hiddenStates() needs a forward pass first');
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

  /** Adds the gradients of the last loss() to `grads` (zero them between steps). */
  backward(): void {
    if (!this.last) throw new Error('backward() needs forward() and loss() first');
    const { ids, B, T, train, seed, v } = this.last;
    const c = this.config, e = this.eng;
    const { dim: D, hiddenDim: F, nHeads: H } = c;
    const C = c.id2label.length;
    const N = B * T;
    const pDrop = train ? c.dropout : 0;
    const pAttn = train ? c.attentionDropout : 0;
    const pHead = train ? c.seqClassifDropout : 0;

    // Head.
    e.linearBackward(v.dLogits, v.preA, this.p('classifier.weight'), v.dPre, 0, this.g('classifier.weight'), this.g('classifier.bias'), B, D, C);
    if (pHead > 0) e.dropoutBackward(v.dPre, v.dPre, B * D, pHead, siteSeed(seed, 1));
    e.activationBackward(v.dPre, v.preH, v.dPre, B * D, Activation.relu);
    e.linearBackward(v.dPre, v.cls, this.p('pre_classifier.weight'), v.dCls, 0, this.g('pre_classifier.weight'), this.g('pre_classifier.bias'), B, D, D);

    // dX: gradient of the current layer's output; only the [CLS] rows get one from the head.
    const dX = v.dA;
    dX.fill(0);
    for (let b = 0; b < B; b++) dX.set(v.dCls.subarray(b * D, b * D + D), b * T * D);
    const dSa = v.dB;

    for (let l = c.nLayers - 1; l >= 0; l--) {
      const L = v.layers[l];
      const xIn = l === 0 ? v.embOut : v.layers[l - 1].out;
      const w = (n: string) => this.p(layerPrefix(l) + n);
      const g = (n: string) => this.g(layerPrefix(l) + n);
      // out = LN(ffn + saOut): the sum's gradient goes to both terms.
      e.layerNormBackward(dX, L.ffnSum, w('output_layer_norm.weight'), L.outMean, L.outRstd, dSa,
        g('output_layer_norm.weight'), g('output_layer_norm.bias'), N, D);
      let dH2 = dSa;
      if (pDrop > 0) {
        e.dropoutBackward(dSa, v.dH2, N * D, pDrop, siteSeed(seed, 3 + l * SITES_PER_LAYER));
        dH2 = v.dH2;
      }
      // The activation was not kept: recomputing it costs far less memory than storing it per layer.
      e.activationForward(L.h1, v.act, N * F, this.act);
      e.linearBackward(dH2, v.act, w('ffn.lin2.weight'), v.dA1, 0, g('ffn.lin2.weight'), g('ffn.lin2.bias'), N, F, D);
      e.activationBackward(v.dA1, L.h1, v.dA1, N * F, this.act);
      // dSa (= d saOut from the residual) += lin1's input gradient.
      e.linearBackward(v.dA1, L.saOut, w('ffn.lin1.weight'), dSa, 1, g('ffn.lin1.weight'), g('ffn.lin1.bias'), N, D, F);
      // saOut = LN(attnOut + xIn)
      e.layerNormBackward(dSa, L.saSum, w('sa_layer_norm.weight'), L.saMean, L.saRstd, dX,
        g('sa_layer_norm.weight'), g('sa_layer_norm.bias'), N, D);
      e.linearBackward(dX, L.ctx, w('attention.out_lin.weight'), v.dCtx, 0, g('attention.out_lin.weight'), g('attention.out_lin.bias'), N, D, D);
      e.attentionBackward(v.dCtx, L.q, L.k, L.v, L.probs, v.dQ, v.dK, v.dV, B, T, D, H, pAttn, siteSeed(seed, 2 + l * SITES_PER_LAYER));
      // dX now holds d xIn from the residual; the three projections add theirs.
      e.linearBackward(v.dQ, xIn, w('attention.q_lin.weight'), dX, 1, g('attention.q_lin.weight'), g('attention.q_lin.bias'), N, D, D);
      e.linearBackward(v.dK, xIn, w('attention.k_lin.weight'), dX, 1, g('attention.k_lin.weight'), g('attention.k_lin.bias'), N, D, D);
      e.linearBackward(v.dV, xIn, w('attention.v_lin.weight'), dX, 1, g('attention.v_lin.weight'), g('attention.v_lin.bias'), N, D, D);
    }

    if (pDrop > 0) e.dropoutBackward(dX, dX, N * D, pDrop, siteSeed(seed, 0));
    e.layerNormBackward(dX, v.embSum, this.p('distilbert.embeddings.LayerNorm.weight'), v.embMean, v.embRstd, dSa,
      this.g('distilbert.embeddings.LayerNorm.weight'), this.g('distilbert.embeddings.LayerNorm.bias'), N, D);
    for (const id of ids) {
      if (!this.rowMark[id]) {
        this.rowMark[id] = 1;
        this.rowList.push(id);
      }
    }
    // Sinusoidal position embeddings are fixed in HF (no gradient).
    e.embeddingBackward(ids, dSa, this.g(WORD_EMBEDDINGS),
      c.sinusoidalPosEmbds ? null : this.g('distilbert.embeddings.position_embeddings.weight'), B, T, D, c.vocabSize);
  }
}
