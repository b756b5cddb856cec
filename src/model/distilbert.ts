import { engine, NativeModel } from '../engine/native';
import { DistilBertConfig } from '../io/config';
import { AdamStep, DeviceChoice, ForwardOptions, SequenceClassifierModel } from './model';
import { ParamStore } from '../io/params';

export type { ForwardOptions } from './model';

/**
 * DistilBertForSequenceClassification whose model step (forward, loss, backward, Adam) runs in
 * the native engine on a backend ("cpu", or "cuda" where built): parameters, gradients and
 * moments stay on the device; this class hands it token ids, masks and labels and reads back
 * logits and losses, and copies weights and moments out for checkpoints.
 */
export class DistilBert implements SequenceClassifierModel {
  private readonly native: NativeModel;
  private last?: { B: number; T: number; allHidden: boolean };

  /**
   * On the CPU the engine works in `params`' own memory from now on (the weights exist once):
   * read and write them through readParams()/writeParams(), not through `params`.
   */
  constructor(readonly config: DistilBertConfig, params: ParamStore, device: DeviceChoice = {}) {
    this.native = new (engine().Model)(config, device.device ?? 'cpu', device.precision ?? 'fp32');
    this.native.adoptParams(params.data);
  }

  get device(): string {
    return this.native.device;
  }

  forward(ids: Int32Array, mask: Int32Array, B: number, T: number, opts: ForwardOptions = {}): Float32Array {
    if (ids.length !== B * T || mask.length !== B * T) throw new Error(`input_ids and attention_mask must both have ${B}x${T} values`);
    const logits = new Float32Array(B * this.config.id2label.length);
    const allHidden = opts.allHiddenStates ?? false;
    this.native.forward(ids, mask, B, T, opts.train ?? false, opts.seed ?? 0, opts.grad ?? true, allHidden, logits);
    this.last = { B, T, allHidden };
    return logits;
  }

  loss(labels: Int32Array, gradScale = 1): number {
    return this.native.loss(labels, gradScale);
  }

  backward(): void {
    this.native.backward();
  }

  zeroGrads(): void {
    this.native.zeroGrads();
  }

  adamStep(s: AdamStep): void {
    this.native.adamStep(s.alpha, s.beta1, s.beta2, s.epsilon, s.clipNorm ?? 0, s.sparse ?? true);
  }

  readParams(): ParamStore {
    const p = new ParamStore(this.config);
    this.native.getParams(p.data);
    return p;
  }

  writeParams(data: Float32Array): void {
    this.native.setParams(data);
  }

  readGrads(): ParamStore {
    const g = new ParamStore(this.config);
    this.native.getGrads(g.data);
    return g;
  }

  readMoments(): { m: Float32Array; v: Float32Array } {
    const m = new Float32Array(this.native.paramCount), v = new Float32Array(this.native.paramCount);
    this.native.getMoments(m, v);
    return { m, v };
  }

  writeMoments(m: Float32Array, v: Float32Array): void {
    this.native.setMoments(m, v);
  }

  /** Hidden states of the last forward (run with allHiddenStates): embeddings output, then each layer's output. */
  hiddenStates(): Float32Array[] {
    if (!this.last?.allHidden) throw new Error('hiddenStates() needs a forward pass with allHiddenStates');
    const n = this.last.B * this.last.T * this.config.dim;
    return Array.from({ length: this.config.nLayers + 1 }, (_, i) => {
      const h = new Float32Array(n);
      this.native.hiddenState(i, h);
      return h;
    });
  }

  releaseWorkspace(): void {
    this.native.releaseWorkspace();
  }

  /** Device bytes the workspaces hold now. */
  workspaceBytes(): number {
    return this.native.workspaceBytes();
  }
}
