/**
 * Accuracy of an ONNX export (`bert-20news export`) on a 20 Newsgroups split, run by
 * onnxruntime-node: each of onnx/model.onnx and onnx/model_quantized.onnx that the folder holds.
 * The texts are tokenized by the export's own tokenizer.json, to its model_max_length.
 *
 *   node dist/bench/onnx_accuracy.js --export DIR --data 20news-bydate.tar.gz
 *     [--validation-list card_split_validation_paths.txt] [--split card|bydate] [--threads N]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadSplitTexts } from '../src/cli/data_options';
import { readConfig } from '../src/model/config';
import { BertTokenizer, padBatch } from '../src/tokenizer';
import { arg, optionalArg } from './args';

async function main(): Promise<void> {
  const dir = arg('export');
  const labels = readConfig(join(dir, 'config.json')).id2label;
  const tokenizer = BertTokenizer.load(dir);
  const d = await loadSplitTexts({ data: arg('data'), split: arg('split', 'card') as 'card' | 'bydate', validationList: optionalArg('validation-list'), splitSeed: 42 }, []);
  const truth = Array.from(d.test.labels, (l) => labels.indexOf(d.labels[l]));
  const enc = d.test.texts.map((t) => tokenizer.encode(t, { maxLength: tokenizer.modelMaxLength }));
  const order = enc.map((_, i) => i).sort((a, b) => enc[a].ids.length - enc[b].ids.length);
  const threads = Number(arg('threads', '2'));
  for (const file of ['model.onnx', 'model_quantized.onnx'].filter((f) => existsSync(join(dir, 'onnx', f)))) {
    const session = await ort.InferenceSession.create(join(dir, 'onnx', file), { intraOpNumThreads: threads, interOpNumThreads: 1 });
    const t0 = Date.now();
    let correct = 0;
    for (let s = 0; s < order.length; s += 32) {
      const idx = order.slice(s, s + 32);
      const b = padBatch(idx.map((i) => enc[i]), tokenizer.padId);
      const t = (a: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(a, BigInt), [b.batchSize, b.seqLen]);
      const logits = (await session.run({ input_ids: t(b.inputIds), attention_mask: t(b.attentionMask) })).logits.data as Float32Array;
      idx.forEach((i, r) => {
        const row = logits.subarray(r * labels.length, (r + 1) * labels.length);
        if (row.indexOf(Math.max(...row)) === truth[i]) correct++;
      });
    }
    process.stdout.write(JSON.stringify({ file, split: d.split.description, texts: order.length, accuracy: correct / order.length, seconds: (Date.now() - t0) / 1000 }) + '\n');
  }
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
