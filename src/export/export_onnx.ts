import { join } from 'node:path';
import { ensureWritableDir, writeFileAtomic } from '../io/atomic';
import { configToJson, ModelConfig, tokenizerClass } from '../model/config';
import { LoadedModel } from '../model/model_dir';
import { ParamStore } from '../io/params';
import { saveTokenizer } from '../io/save_tokenizer';
import { encoderGraph, graphInputs, OPSET } from './encoder_onnx';

export interface ExportResult {
  files: string[];
}

/**
 * The ModelProto bytes of DistilBertForSequenceClassification or BertForSequenceClassification:
 * inputs input_ids and attention_mask (BERT: and token_type_ids; int64 [batch_size,
 * sequence_length]), output logits [batch_size, labels].
 */
export function onnxModel(config: ModelConfig, params: ParamStore, quantize: boolean): Uint8Array {
  return encoderGraph(config, params, { quantize }).encode({
    inputs: graphInputs(config).map((name) => ({ name, type: 'int64' as const, dims: ['batch_size', 'sequence_length'] })),
    outputs: [{ name: 'logits', type: 'float', dims: ['batch_size', config.id2label.length] }],
    opset: OPSET,
    producer: 'bert-20news',
    name: config.modelType === 'bert' ? 'BertForSequenceClassification' : 'DistilBertForSequenceClassification',
  });
}

/**
 * The weights with the folder's temperature folded into the classifier (its weight and bias divided
 * by T): the exported logits are logits / T, so the softmax transformers.js applies gives the
 * calibrated probabilities. The loaded weights are not changed.
 */
function calibrated(model: LoadedModel): ParamStore {
  const T = model.calibration?.transformer;
  if (T === undefined || T === 1) return model.params;
  const p = new ParamStore(model.config);
  p.data.set(model.params.data);
  for (const name of ['classifier.weight', 'classifier.bias']) p.get(name).forEach((v, i, a) => (a[i] = v / T));
  return p;
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
  const params = calibrated(model);
  write('onnx/model.onnx', [onnxModel(model.config, params, false)]);
  if (quantize) write('onnx/model_quantized.onnx', [onnxModel(model.config, params, true)]);
  write('config.json', json(configToJson(model.config)));
  files.push(...saveTokenizer(outDir, model.tokenizer, { tokenizerJson: true, noVocabTxt: true, tokenizerClass: tokenizerClass(model.config) }));
  return { files };
}
