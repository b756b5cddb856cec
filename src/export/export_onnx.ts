import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { configToJson, DistilBertConfig } from '../model/config';
import { LoadedModel } from '../model/model_dir';
import { ParamStore } from '../io/params';
import { saveTokenizer } from '../io/save_tokenizer';
import { distilBertGraph, OPSET } from './distilbert_onnx';

export interface ExportResult {
  files: string[];
}

/**
 * The ModelProto bytes of DistilBertForSequenceClassification: inputs input_ids and
 * attention_mask (int64 [batch_size, sequence_length]), output logits [batch_size, labels].
 */
export function onnxModel(config: DistilBertConfig, params: ParamStore, quantize: boolean): Uint8Array {
  return distilBertGraph(config, params, { quantize }).encode({
    inputs: [
      { name: 'input_ids', type: 'int64', dims: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', type: 'int64', dims: ['batch_size', 'sequence_length'] },
    ],
    outputs: [{ name: 'logits', type: 'float', dims: ['batch_size', config.id2label.length] }],
    opset: OPSET,
    producer: 'bert-20news',
    name: 'DistilBertForSequenceClassification',
  });
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
  write('onnx/model.onnx', [onnxModel(model.config, model.params, false)]);
  if (quantize) write('onnx/model_quantized.onnx', [onnxModel(model.config, model.params, true)]);
  write('config.json', json(configToJson(model.config)));
  files.push(...saveTokenizer(outDir, model.tokenizer, { tokenizerJson: true, noVocabTxt: true }));
  return { files };
}
