import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { exportOnnx } from '../export/export_onnx';
import { HYBRID_FILE } from '../hybrid/hybrid';
import { resolveModel } from '../io/hub';
import { loadModelDir } from '../model/model_dir';

interface ExportOptions {
  model: string;
  out: string;
  quantize?: boolean;
  revision: string;
}

export function exportCommand(): Command {
  return new Command('export')
    .description('write a model as ONNX in a folder that transformers.js and onnxruntime load (onnx/model.onnx, config.json, tokenizer.json)')
    .requiredOption('--model <dir>', 'model folder or hub id')
    .requiredOption('--out <dir>', 'output folder')
    .option('--quantize', 'also write onnx/model_quantized.onnx (int8 weights, activations quantized at run time)')
    .option('--revision <rev>', 'hub revision (branch, tag or commit) of a model given by id', 'main')
    .action(async (opts: ExportOptions) => {
      const model = loadModelDir(await resolveModel(opts.model, '--model <folder>', opts.revision));
      const { files } = exportOnnx(model, opts.out, opts.quantize ?? false);
      process.stdout.write(`wrote ${files.map((f) => `${opts.out}/${f}`).join(', ')}\n`);
      if (existsSync(join(model.dir, HYBRID_FILE))) {
        process.stderr.write(`note: ${model.dir} is a hybrid; the export carries its transformer part only (ONNX has no place for the TF-IDF parts and the fusion)\n`);
      }
      const strip = model.preprocessing?.strip ?? [];
      if (model.calibration) process.stderr.write(`note: the transformer's temperature ${model.calibration.transformer.toFixed(4)} is folded into the exported classifier (logits / T): its softmax gives the calibrated probabilities\n`);
      if (strip.length) process.stderr.write(`note: ${model.dir} was trained on texts with --strip ${strip.join(',')}: strip them so before the exported model reads them\n`);
    });
}
