import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { configToJson } from '../io/config';
import { LoadedModel } from '../io/model_dir';
import { distilBertGraph, OPSET } from './distilbert_onnx';
import { tokenizerConfigJson, tokenizerJson } from './tokenizer_json';

export interface ExportResult {
  files: string[];
}

const json = (v: unknown): Buffer[] => [Buffer.from(JSON.stringify(v, null, 2) + '\n')];

/**
 * A model folder as transformers.js loads it: config.json (id2label), tokenizer.json,
 * tokenizer_config.json, onnx/model.onnx and, with `quantize`, onnx/model_quantized.onnx.
 * Each file is written to a temporary name and renamed.
 */
export function exportOnnx(model: LoadedModel, outDir: string, quantize: boolean): ExportResult {
  ensureWritableDir(join(outDir, 'onnx'));
  const files: string[] = [];
  const write = (rel: string, chunks: (Buffer | Uint8Array)[]): void => {
    writeFileAtomic(join(outDir, rel), chunks);
    files.push(rel);
  };
  const io = {
    inputs: [
      { name: 'input_ids', type: 'int64' as const, dims: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', type: 'int64' as const, dims: ['batch_size', 'sequence_length'] },
    ],
    outputs: [{ name: 'logits', type: 'float' as const, dims: ['batch_size', model.config.id2label.length] }],
    opset: OPSET,
    producer: 'bert-20news',
    name: 'DistilBertForSequenceClassification',
  };
  write('onnx/model.onnx', [distilBertGraph(model.config, model.params, { quantize: false }).encode(io)]);
  if (quantize) write('onnx/model_quantized.onnx', [distilBertGraph(model.config, model.params, { quantize: true }).encode(io)]);
  write('config.json', json(configToJson(model.config)));
  write('tokenizer.json', json(tokenizerJson(model.tokenizer)));
  write('tokenizer_config.json', json(tokenizerConfigJson(model.tokenizer)));
  return { files };
}
