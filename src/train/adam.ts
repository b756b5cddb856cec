import { OptimizedModel } from '../model/model';
import { PolynomialDecay } from './schedule';

export interface AdamOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Global-norm clipping threshold; undefined = no clipping (the card's setting). */
  clipNorm?: number;
}

/**
 * Adam as Keras 2.12 implements it: the bias correction is folded into the step size and epsilon
 * is added to sqrt(v) afterwards (not to sqrt(v_hat) as in PyTorch):
 *   alpha = lr * sqrt(1 - b2^t) / (1 - b1^t);  p -= alpha * m / (sqrt(v) + eps).
 * The moments live with the model on its device; this class keeps the schedule and the count.
 */
export class KerasAdam {
  /** Updates applied so far (Keras' `iterations`). */
  step = 0;

  constructor(
    readonly schedule: PolynomialDecay,
    readonly opts: AdamOptions = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
  ) {}

  /** Learning rate of the next update. */
  get lr(): number {
    return this.schedule.at(this.step);
  }

  /**
   * One update of the model's parameters from its accumulated gradients, which it then zeroes.
   * `sparse` (default) skips word-embedding rows that never had a gradient: exact, since Adam
   * leaves weights with zero gradient and zero moments unchanged.
   */
  update(model: OptimizedModel, sparse = true): void {
    const { beta1, beta2, epsilon, clipNorm } = this.opts;
    const t = this.step + 1;
    const alpha = (this.lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    model.adamStep({ alpha, beta1, beta2, epsilon, clipNorm, sparse });
    this.step++;
  }
}
