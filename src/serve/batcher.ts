import { Classification, Classifier, TextInput } from '../pipeline/classifier';

interface Pending {
  texts: TextInput[];
  topK: number;
  resolve(r: Classification[]): void;
  reject(e: Error): void;
}

/**
 * Gathers the texts of concurrent requests into one engine batch. A request waits at most
 * `maxWaitMs` for company; while the engine runs a batch (synchronously) new requests queue
 * up and go together into the next one.
 */
export class MicroBatcher {
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly classifier: Classifier,
    private readonly maxBatchTexts = 64,
    private readonly maxWaitMs = 2,
    private readonly onBatch?: (texts: number) => void,
    private readonly threshold = 0.5,
  ) {}

  classify(texts: TextInput[], topK: number): Promise<Classification[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ texts, topK, resolve, reject });
      this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  private flush(): void {
    this.timer = undefined;
    const batch: Pending[] = [];
    let count = 0;
    // Always take at least one request, then as many whole requests as fit.
    while (this.queue.length && (batch.length === 0 || count + this.queue[0].texts.length <= this.maxBatchTexts)) {
      const p = this.queue.shift()!;
      batch.push(p);
      count += p.texts.length;
    }
    try {
      const results = this.classifier.classify(batch.flatMap((p) => p.texts), undefined, this.threshold);
      this.onBatch?.(count);
      let at = 0;
      for (const p of batch) {
        p.resolve(results.slice(at, at + p.texts.length).map((r) => ({ ...r, predictions: r.predictions.slice(0, p.topK) })));
        at += p.texts.length;
      }
    } catch (e) {
      for (const p of batch) p.reject(e as Error);
    }
    if (this.queue.length) this.timer = setTimeout(() => this.flush(), 0);
  }
}
