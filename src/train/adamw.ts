import { OptimizedModel } from '../model/model';
import { Schedule } from './schedule';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay, applied to every weight but biases and LayerNorm weights (HF Trainer's groups). */
  weightDecay: number;
  /** Global-norm clipping threshold; undefined = none (HF Trainer clips at 1.0). */
  clipNorm?: number;
}

/**
 * torch.optim.AdamW as HF Trainer uses it: p *= 1 - lr*wd, then Adam with bias correction and
 * eps added to sqrt(v_hat). The moments live with the model on its device; this class keeps the
 * schedule and the count.
 */
export class AdamW {
  /** Updates applied so far. */
  step = 0;

  constructor(
    readonly schedule: Schedule,
    readonly opts: AdamWOptions = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 },
  ) {}

  /** Learning rate of the next update. */
  get lr(): number {
    return this.schedule.at(this.step);
  }

  /** One update from the model's accumulated gradients, which it then zeroes. */
  update(model: OptimizedModel): void {
    const { beta1, beta2, epsilon, weightDecay, clipNorm } = this.opts;
    model.adamwStep({ lr: this.lr, beta1, beta2, epsilon, weightDecay, t: this.step + 1, clipNorm });
    this.step++;
  }
}
