import { parentPort, workerData } from 'node:worker_threads';
import { engine } from '../engine/native';
import { Classifier, LoadOptions } from '../pipeline/classifier';
import { explain, ExplainOptions } from '../pipeline/explain';

/**
 * The server's explanation thread: its own classifier from the same model folder, explaining one
 * request at a time off the thread that answers classify requests. One engine thread (the OpenMP
 * thread count is per thread), at the lowest priority: classify keeps the other cores, and this one
 * when it needs it.
 */
interface Job {
  id: number;
  texts: string[];
  options: ExplainOptions;
}

const data = workerData as { dir: string; load: LoadOptions; threads: number };
engine().setThreads(data.threads, true);
// Classify requests come first: this thread takes the CPU they leave.
engine().lowerThreadPriority(19);
const classifier = Classifier.load(data.dir, data.load);
parentPort!.postMessage({ ready: true });
parentPort!.on('message', (job: Job) => {
  try {
    parentPort!.postMessage({ id: job.id, explanations: job.texts.map((t) => explain(classifier, t, job.options)) });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).message });
  }
});
