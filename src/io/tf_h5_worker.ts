/** Reads a tf_model.h5 for readTfH5 (tf_h5.ts) in a worker thread, so that a deadline can stop it. */
import { MessagePort, workerData } from 'node:worker_threads';
import { parseTfH5 } from './tf_h5';

const { path, done, port } = workerData as { path: string; done: Int32Array; port: MessagePort };
try {
  const tensors = parseTfH5(path);
  port.postMessage({ tensors }, tensors.map((t) => t.data.buffer as ArrayBuffer));
} catch (e) {
  port.postMessage({ error: (e as Error).message });
}
Atomics.store(done, 0, 1);
Atomics.notify(done, 0);
