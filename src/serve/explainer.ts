import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Classifier, LoadOptions } from '../pipeline/classifier';
import { explain, Explanation, ExplainOptions } from '../pipeline/explain';

/** Where the explanation thread loads its own copy of the served model from. */
export interface ExplainSource {
  dir: string;
  load: LoadOptions;
}

export class ExplainBusy extends Error {}
export class ExplainTimeout extends Error {}

interface Job {
  id: number;
  texts: string[];
  options: ExplainOptions;
  resolve(e: Explanation[]): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * Explanations for the server, apart from classification: one request at a time, at most
 * `maxQueued` waiting (more: ExplainBusy), each answered within `timeoutMs` of its start or failed
 * with ExplainTimeout (the work then finishes unseen before the next one starts). With a source,
 * a worker thread started by the first request runs them on its own copy of the model, so classify
 * requests never wait behind one; without (a classifier built from parts), they run on this thread
 * between other work.
 */
export class ExplainQueue {
  private queue: Job[] = [];
  private running?: Job;
  private nextId = 0;
  private worker?: Worker;
  private started?: Promise<void>;

  constructor(private readonly classifier: Classifier, private readonly source: ExplainSource | undefined, private readonly timeoutMs: number, private readonly maxQueued = 4) {}

  /** The worker, started by the first request (a server never asked to explain holds no second copy of the model). */
  private start(): Promise<void> {
    if (this.started) return this.started;
    if (!this.source) return (this.started = Promise.resolve());
    const worker = new Worker(join(__dirname, 'explain_worker.js'), { workerData: { dir: this.source.dir, load: this.source.load, threads: 1 } });
    this.worker = worker;
    worker.unref();
    this.started = new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: { ready?: boolean; id?: number; explanations?: Explanation[]; error?: string }) => {
        if (m.ready) return resolve();
        this.finish(m.id!, m.error, m.explanations);
      });
    });
    return this.started;
  }

  explain(texts: string[], options: ExplainOptions): Promise<Explanation[]> {
    if (this.queue.length >= this.maxQueued) return Promise.reject(new ExplainBusy(`${this.queue.length} explanations are waiting: try again later`));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, texts, options, resolve, reject });
      this.next();
    });
  }

  close(): Promise<number> | undefined {
    return this.worker?.terminate();
  }

  private next(): void {
    if (this.running || !this.queue.length) return;
    const job = (this.running = this.queue.shift()!);
    job.timer = setTimeout(() => {
      job.reject(new ExplainTimeout(`the explanation took over ${this.timeoutMs} ms`));
      job.resolve = () => undefined;
      job.reject = () => undefined;
    }, this.timeoutMs);
    this.start().then(() => {
      if (this.worker) this.worker.postMessage({ id: job.id, texts: job.texts, options: job.options });
      else setImmediate(() => this.runHere(job));
    }, (e: Error) => this.finish(job.id, `the explanation thread did not start: ${e.message}`));
  }

  private runHere(job: Job): void {
    try {
      this.finish(job.id, undefined, job.texts.map((t) => explain(this.classifier, t, job.options)));
    } catch (e) {
      this.finish(job.id, (e as Error).message);
    }
  }

  private finish(id: number, error?: string, explanations?: Explanation[]): void {
    const job = this.running;
    if (!job || job.id !== id) return;
    clearTimeout(job.timer);
    this.running = undefined;
    if (error !== undefined) job.reject(new Error(error));
    else job.resolve(explanations!);
    this.next();
  }
}
