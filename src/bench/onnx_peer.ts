/**
 * The ONNX peers of `bench`, each case in its own process (so its peak RSS is its own), printing
 * JSON timings: onnxruntime-node on the export of the base model (inference cases), and
 * transformers.js's text-classification pipeline on the same export (the `text` case).
 * Usage: node onnx_peer.js onnxruntime|transformers.js CASE REPS THREADS EXPORT_DIR
 */
import { basename, dirname, join } from 'node:path';
import { CASES, caseText, caseTokens, CaseTiming } from './cases';

/** As cases.ts's timeSteps, for a step that returns a promise. */
async function timeAsync(step: () => Promise<unknown>, reps: number): Promise<CaseTiming> {
  await step();
  const seconds: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await step();
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return { seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

async function main(): Promise<CaseTiming> {
  const [peer, name, reps, threadArg, exportDir] = process.argv.slice(2);
  const c = CASES.find((k) => k.name === name);
  if (!c) throw new Error(`unknown case ${name}`);
  const threads = Number(threadArg);
  // ORT's own defaults for a server: all optimizations, operators run one after another, the
  // intra-op pool sized to the threads we use.
  const sessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' as const, graphOptimizationLevel: 'all' as const };
  if (peer === 'transformers.js') {
    const { pipeline, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = dirname(exportDir);
    const classify = await pipeline('text-classification', basename(exportDir), { dtype: 'fp32', session_options: sessionOptions });
    const text = caseText(c);
    return timeAsync(() => classify(text, { top_k: 20 }), Number(reps));
  }
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(join(exportDir, 'onnx', 'model.onnx'), sessionOptions);
  const ids = new ort.Tensor('int64', BigInt64Array.from(caseTokens(c), BigInt), [c.batch, c.seqLen]);
  const mask = new ort.Tensor('int64', new BigInt64Array(c.batch * c.seqLen).fill(1n), [c.batch, c.seqLen]);
  return timeAsync(() => session.run({ input_ids: ids, attention_mask: mask }), Number(reps));
}

main().then(
  (t) => process.stdout.write(JSON.stringify(t) + '\n'),
  (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  },
);
