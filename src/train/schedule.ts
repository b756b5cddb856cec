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
