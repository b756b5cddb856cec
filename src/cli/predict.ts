import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { resolveModel } from '../io/hub';
import { MAX_TEXT_CHARS } from '../data/labelled_files';
import { Classifier } from '../pipeline/classifier';
import { StripPart } from '../data/strip';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, intOption, stripOption, lines, readStdin } from './common';

interface PredictOptions extends DeviceOptions {
  model: string;
  topK?: number;
  json?: boolean;
  file?: string;
  threads?: number;
  maxLength?: number;
  strip?: StripPart[];
  maxTextChars?: number;
}

/** Characters of a text that --json echoes back. */
const ECHO_CHARS = 1000;

export function predictCommand(): Command {
  return addDeviceOptions(new Command('predict'))
    .description('rank the labels of each text with probabilities (texts as arguments, from --file, or stdin; one text per line)')
    .argument('[text...]', 'texts to classify')
    .requiredOption('--model <dir>', 'model folder (config.json, model.safetensors, vocab.txt)')
    .option('--top-k <k>', 'show the k most probable labels (default: all)', intOption(1))
    .option('--json', `one JSON object per text: {"text" (its first ${ECHO_CHARS} characters), "chars", "truncated", "tokens", "cut", "predictions": [{"label", "score"}]}`)
    .option('--file <path>', 'read texts from a file, one per line')
    .option('--max-length <n>', 'tokens per text, [CLS] and [SEP] included (default: the model\'s model_max_length)', intOption(2))
    .option('--max-text-chars <n>', `characters of each text read at most, by every part (default ${MAX_TEXT_CHARS.toLocaleString('en')}); a longer text is cut and flagged`, intOption(1))
    .option('--threads <n>', 'CPU threads', intOption(1))
    .option('--strip <parts>', 'remove headers,footers,quotes before classifying (a model trained with --strip records and applies its own)', stripOption)
    .action(async (texts: string[], opts: PredictOptions) => {
      applyThreads(opts.threads);
      let inputs = texts;
      if (opts.file) {
        let content: string;
        try {
          content = readFileSync(opts.file, 'utf8');
        } catch (e) {
          throw new Error(`cannot read ${opts.file}: ${(e as Error).message}`);
        }
        const fromFile = lines(content);
        if (fromFile.length === 0) throw new Error(`${opts.file} has no text to classify (only blank lines)`);
        inputs = [...inputs, ...fromFile];
      }
      if (inputs.length === 0 && !opts.file) inputs = lines(readStdin());
      if (inputs.length === 0) throw new Error('no text to classify: give texts as arguments, --file, or lines on stdin');
      const classifier = Classifier.load(await resolveModel(opts.model, '--model <folder>', opts.revision),
        { maxLength: opts.maxLength, device: deviceChoice(opts), strip: opts.strip, maxTextChars: opts.maxTextChars });
      const results = classifier.classify(inputs, opts.topK);
      const out: string[] = [];
      results.forEach((r, i) => {
        if (opts.json) {
          out.push(JSON.stringify({ text: inputs[i].slice(0, ECHO_CHARS), chars: inputs[i].length, truncated: r.truncated, tokens: r.tokens, cut: r.cut, predictions: r.predictions }));
          return;
        }
        const head = inputs[i].length > 70 ? inputs[i].slice(0, 67) + '...' : inputs[i];
        out.push(`${JSON.stringify(head)}${r.truncated ? `  (truncated to ${classifier.maxLength} tokens)` : ''}${r.cut ? ` (cut to its first ${classifier.maxTextChars} characters)` : ''}`);
        for (const p of r.predictions) out.push(`  ${p.score.toFixed(4)}  ${p.label}`);
      });
      process.stdout.write(out.join('\n') + '\n');
    });
}
