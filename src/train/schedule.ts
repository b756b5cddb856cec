/**
 * Keras PolynomialDecay: lr = (lr0 - end) * (1 - min(step, decaySteps) / decaySteps)^power + end,
 * with step = the number of updates already applied.
 */
export class PolynomialDecay {
  constructor(
    readonly initial: number,
    readonly decaySteps: number,
    readonly end = 0,
    readonly power = 1,
  ) {
    if (!(decaySteps > 0)) throw new Error('decay steps must be positive');
  }

  at(step: number): number {
    const frac = 1 - Math.min(step, this.decaySteps) / this.decaySteps;
    return (this.initial - this.end) * frac ** this.power + this.end;
  }
}

/**
 * HF's get_linear_schedule_with_warmup: lr * step/warmup during warmup, then linear decay to 0
 * at `total`, with step = the number of updates already applied.
 */
export class LinearWarmupDecay {
  constructor(
    readonly initial: number,
    readonly warmupSteps: number,
    readonly total: number,
  ) {
    if (!(total > 0) || warmupSteps < 0 || warmupSteps > total) throw new Error('need 0 <= warmup steps <= total steps, total > 0');
  }

  at(step: number): number {
    if (step < this.warmupSteps) return (this.initial * step) / Math.max(1, this.warmupSteps);
    return this.initial * Math.max(0, (this.total - step) / Math.max(1, this.total - this.warmupSteps));
  }
}

/** A learning rate as a function of the number of updates already applied. */
export interface Schedule {
  at(step: number): number;
}
