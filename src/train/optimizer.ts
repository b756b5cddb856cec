import { DistilBert, WORD_EMBEDDINGS } from '../model/distilbert';
import { KerasAdam } from './adam';

/**
 * Keras Adam applied to a model with the word embeddings handled sparsely: rows that never had
 * a gradient have zero moments, so Adam would leave them unchanged; they are skipped. Rows that
 * had one keep being updated every step (their moments decay), so the result is exact.
 */
export class ModelOptimizer {
  private readonly seen: Uint8Array;
  private seenRows: number[] = [];

  constructor(readonly model: DistilBert, readonly adam: KerasAdam) {
    this.seen = new Uint8Array(model.config.vocabSize);
  }

  /** After restoring Adam's moments: rows with any non-zero moment are live again. */
  restoreRows(): void {
    const { offset } = this.model.params.byName.get(WORD_EMBEDDINGS)!;
    const D = this.model.config.dim;
    for (let r = 0; r < this.model.config.vocabSize; r++) {
      for (let i = offset + r * D; i < offset + (r + 1) * D; i++) {
        if (this.adam.m[i] !== 0 || this.adam.v[i] !== 0) {
          this.mark(r);
          break;
        }
      }
    }
  }

  private mark(r: number): void {
    if (!this.seen[r]) {
      this.seen[r] = 1;
      this.seenRows.push(r);
    }
  }

  /** Updates the parameters from the accumulated gradients, then zeroes the gradients. */
  step(): void {
    for (const r of this.model.touchedRows()) this.mark(r);
    const slot = this.model.params.byName.get(WORD_EMBEDDINGS)!;
    this.adam.update(this.model.params.data, this.model.grads.data, {
      offset: slot.offset, rowLen: this.model.config.dim, totalRows: this.model.config.vocabSize, rows: Int32Array.from(this.seenRows),
    });
    this.model.zeroGrads();
  }
}
