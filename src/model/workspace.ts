import { DistilBertConfig } from '../io/config';

/** Activations of one transformer layer kept from forward for backward. */
export interface LayerActs {
  /** [N, 3D]: q, k, v column blocks of the fused projection; in a [CLS]-only layer [N, 2D] k, v then [B, D] q. */
  qkv: Float32Array;
  probs: Float32Array; // [B, H, T, T] softmax before dropout
  ctx: Float32Array;
  saSum: Float32Array; // attention output + layer input (the sa_layer_norm input)
  saMean: Float32Array;
  saRstd: Float32Array;
  saOut: Float32Array;
  h1: Float32Array; // lin1 output before the activation (the activation is recomputed in backward)
  ffnSum: Float32Array; // FFN output after dropout + saOut (the output_layer_norm input)
  outMean: Float32Array;
  outRstd: Float32Array;
  out: Float32Array;
}

/**
 * Every buffer forward and backward need, allocated once for the largest batch x length seen
 * and handed out as views of the current shape, so the training loop allocates nothing per step.
 */
export class Workspace {
  private readonly pools = new Map<string, Float32Array>();

  constructor(private readonly c: DistilBertConfig) {}

  /** A view of n floats; the pool behind it only ever grows. */
  private buf(key: string, n: number): Float32Array {
    let p = this.pools.get(key);
    if (!p || p.length < n) {
      p = new Float32Array(n);
      this.pools.set(key, p);
    }
    return p.subarray(0, n);
  }

  /** Views for a batch of B sequences of length T. */
  views(B: number, T: number) {
    const { dim: D, hiddenDim: F, nHeads: H, nLayers: L } = this.c;
    const C = this.c.id2label.length;
    const N = B * T;
    const layers: LayerActs[] = [];
    for (let l = 0; l < L; l++) {
      const k = (name: string) => `l${l}.${name}`;
      layers.push({
        qkv: this.buf(k('qkv'), 3 * N * D),
        probs: this.buf(k('probs'), B * H * T * T),
        ctx: this.buf(k('ctx'), N * D),
        saSum: this.buf(k('saSum'), N * D),
        saMean: this.buf(k('saMean'), N),
        saRstd: this.buf(k('saRstd'), N),
        saOut: this.buf(k('saOut'), N * D),
        h1: this.buf(k('h1'), N * F),
        ffnSum: this.buf(k('ffnSum'), N * D),
        outMean: this.buf(k('outMean'), N),
        outRstd: this.buf(k('outRstd'), N),
        out: this.buf(k('out'), N * D),
      });
    }
    return {
      embSum: this.buf('embSum', N * D),
      embMean: this.buf('embMean', N),
      embRstd: this.buf('embRstd', N),
      embOut: this.buf('embOut', N * D),
      layers,
      act: this.buf('act', N * F), // FFN activation, shared by all layers
      cls: this.buf('cls', B * D),
      clsIn: this.buf('clsIn', B * D), // the last layer's [CLS] input rows
      dClsIn: this.buf('dClsIn', B * D),
      dRes: this.buf('dRes', B * D),
      preH: this.buf('preH', B * D),
      preA: this.buf('preA', B * D),
      logits: this.buf('logits', B * C),
      // Backward scratch, shared by all layers.
      dLogits: this.buf('dLogits', B * C),
      dPre: this.buf('dPre', B * D),
      dCls: this.buf('dCls', B * D),
      dA: this.buf('dA', N * D),
      dB: this.buf('dB', N * D),
      dH2: this.buf('dH2', N * D),
      dA1: this.buf('dA1', N * F),
      dCtx: this.buf('dCtx', N * D),
      dQKV: this.buf('dQKV', 3 * N * D),
    };
  }
}

export type WorkspaceViews = ReturnType<Workspace['views']>;
