import { engine, NativeModel } from '../engine/native';
import { ModelConfig } from './config';
import { ParamStore } from '../io/params';
import { AdamStep, AdamWStep, DeviceChoice, OptimizedModel } from './model';

/**
 * A DistilBERT or BERT whose model step (forward, loss, backward, optimizer) runs in the native engine on
 * a backend ("cpu", or "cuda" where built): parameters, gradients and moments stay on the device;
 * they cross to the host for checkpoints only. The heads' forward passes are the subclasses'.
 */
export abstract class EngineModel implements OptimizedModel {
  protected readonly native: NativeModel;

  /**
   * On the CPU the engine works in `params`' own memory from now on (the weights exist once; a
   * ParamStore's memory is aligned for it, other memory is copied): read and write them through
   * readParams()/writeParams(), not through `params`.
   */
  constructor(readonly config: ModelConfig, params: ParamStore, device: DeviceChoice = {}) {
    this.native = new (engine().Model)(config, device.device ?? 'cpu', device.precision ?? 'fp32', device.profile ?? false);
    this.native.adoptParams(params.data);
  }

  get device(): string {
    return this.native.device;
  }

  /** Mean cross-entropy of the last forward, one label per logits row; the gradient is scaled by gradScale. */
  loss(labels: Int32Array, gradScale = 1): number {
    return this.native.loss(labels, gradScale);
  }

  /** Kernel times since the last call, by kernel (a model made with `profile`). */
  takeProfile(): Record<string, { ms: number; calls: number }> {
    return this.native.takeProfile();
  }

  /** Multi-label or regression loss of the last forward (targets B x labels); the gradient is scaled by gradScale. */
  lossTargets(targets: Float32Array, gradScale = 1): number {
    return this.native.lossTargets(targets, gradScale);
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

  adamwStep(s: AdamWStep): void {
    this.native.adamwStep(s.lr, s.beta1, s.beta2, s.epsilon, s.weightDecay, s.t, s.clipNorm ?? 0);
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

  releaseWorkspace(): void {
    this.native.releaseWorkspace();
  }

  /** Device bytes the workspaces hold now. */
  workspaceBytes(): number {
    return this.native.workspaceBytes();
  }
}
