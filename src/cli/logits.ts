import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { resolveModel } from '../io/hub';
import { loadModelDir } from '../model/model_dir';
import { EncoderClassifier } from '../model/encoder_classifier';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, intOption } from './common';

function matrix(v: unknown, name: string, file: string): number[][] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((r) => Array.isArray(r) && r.length > 0)) throw new Error(`${file}: ${name} must be a non-empty array of non-empty rows`);
  const T = (v[0] as unknown[]).length;
  for (const r of v as unknown[][]) {
    if (r.length !== T || !r.every((x) => Number.isInteger(x))) throw new Error(`${file}: ${name} rows must be integers, all of length ${T}`);
  }
  return v as number[][];
}

export function logitsCommand(): Command {
  return addDeviceOptions(new Command('logits'))
    .description('print {"logits": [[...]]} for {"input_ids": [[...]], "attention_mask": [[...]], "token_type_ids": [[...]]} (the last two optional)')
    .requiredOption('--model <dir>', 'model folder (config.json, model.safetensors, vocab.txt)')
    .requiredOption('--inputs <file.json>', 'JSON with input_ids, and optionally attention_mask and token_type_ids (BERT)')
    .option('--threads <n>', 'CPU threads', intOption(1))
    .action(async (opts: DeviceOptions & { model: string; inputs: string; threads?: number }) => {
      applyThreads(opts.threads);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(opts.inputs, 'utf8'));
      } catch (e) {
        throw new Error(`${opts.inputs}: ${(e as Error).message}`);
      }
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${opts.inputs}: must be a JSON object with input_ids (and attention_mask)`);
      const ids = matrix((raw as Record<string, unknown>).input_ids, 'input_ids', opts.inputs);
      const given = (raw as Record<string, unknown>).attention_mask;
      const mask = given === undefined ? ids.map((r) => r.map(() => 1)) : matrix(given, 'attention_mask', opts.inputs);
      if (mask.length !== ids.length || mask[0].length !== ids[0].length) throw new Error(`${opts.inputs}: attention_mask must have the shape of input_ids`);
      const givenTypes = (raw as Record<string, unknown>).token_type_ids;
      const types = givenTypes === undefined ? undefined : matrix(givenTypes, 'token_type_ids', opts.inputs);
      if (types && (types.length !== ids.length || types[0].length !== ids[0].length)) throw new Error(`${opts.inputs}: token_type_ids must have the shape of input_ids`);
      const m = loadModelDir(await resolveModel(opts.model, '--model <folder>', opts.revision));
      if (types && m.config.modelType !== 'bert') throw new Error(`${opts.inputs}: token_type_ids given, but ${m.config.modelType} has no token types`);
      const B = ids.length, T = ids[0].length, C = m.config.id2label.length;
      // Checked here, in full precision: Int32Array would wrap 2^33 to 0.
      ids.forEach((row, b) => row.forEach((id, t) => {
        if (id < 0 || id >= m.config.vocabSize) throw new Error(`${opts.inputs}: input id ${id} at position ${b * T + t} is outside the vocabulary (0..${m.config.vocabSize - 1})`);
      }));
      mask.forEach((row, b) => row.forEach((v, t) => {
        if (v !== 0 && v !== 1) throw new Error(`${opts.inputs}: attention_mask[${b}][${t}] = ${v}: must be 0 or 1`);
      }));
      types?.forEach((row, b) => row.forEach((v, t) => {
        if (v < 0 || v >= m.config.typeVocabSize) throw new Error(`${opts.inputs}: token_type_ids[${b}][${t}] = ${v}: must be from 0 to ${m.config.typeVocabSize - 1}`);
      }));
      const tokenTypes = types ? Int32Array.from(types.flat()) : undefined;
      const logits = new EncoderClassifier(m.config, m.params, deviceChoice(opts)).forward(Int32Array.from(ids.flat()), Int32Array.from(mask.flat()), B, T, { grad: false, tokenTypes });
      const rows = Array.from({ length: B }, (_, b) => Array.from(logits.subarray(b * C, (b + 1) * C)));
      process.stdout.write(JSON.stringify({ logits: rows }) + '\n');
    });
}
