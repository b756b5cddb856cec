import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { resolveModel } from '../io/hub';
import { MAX_TEXT_CHARS } from '../data/labelled_files';
import { Classifier, TextInput } from '../pipeline/classifier';
import { DEFAULT_IG_STEPS, explain, Explanation, explanationJson, EXPLAIN_METHODS, ExplainMethod, MAX_IG_STEPS } from '../pipeline/explain';
import { StripPart } from '../data/strip';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, floatOption, intOption, stripOption, lines, readStdin } from './common';

interface PredictOptions extends DeviceOptions {
  model: string;
  topK?: number;
  json?: boolean;
  file?: string;
  threads?: number;
  maxLength?: number;
  strip?: StripPart[];
  maxTextChars?: number;
  explain?: boolean;
  method: ExplainMethod;
  steps: number;
  label?: string;
  jsonl?: boolean;
  threshold: number;
}

/** An input line of --jsonl: {"text": ..., "text_pair": ...} (text_pair optional). */
export function parseInput(line: string, where: string): TextInput {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new Error(`${where}: not JSON: ${(e as Error).message}`);
  }
  const o = v as { text?: unknown; text_pair?: unknown };
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof o.text !== 'string') throw new Error(`${where}: must be a JSON object with a "text" string (and optionally "text_pair")`);
  if (o.text_pair === undefined) return o.text;
  if (typeof o.text_pair !== 'string') throw new Error(`${where}: "text_pair" must be a string`);
  return { text: o.text, textPair: o.text_pair };
}

const textOf = (t: TextInput) => (typeof t === 'string' ? t : `${t.text} [SEP] ${t.textPair}`);

/** Characters of a text that --json echoes back. */
const ECHO_CHARS = 1000;

export function predictCommand(): Command {
  return addDeviceOptions(new Command('predict'))
    .description('rank the labels of each text with probabilities; multi-label models also list the labels over --threshold, regression models give the value (texts as arguments, from --file, or stdin; one text per line)')
    .argument('[text...]', 'texts to classify')
    .requiredOption('--model <dir>', 'model folder (config.json, model.safetensors, vocab.txt)')
    .option('--top-k <k>', 'show the k most probable labels (default: all)', intOption(1))
    .option('--json', `one JSON object per text: {"text" (its first ${ECHO_CHARS} characters), "chars", "truncated", "tokens", "cut", "predictions": [{"label", "score"}]}`)
    .option('--file <path>', 'read texts from a file, one per line')
    .option('--jsonl', 'each text is a JSON object {"text", "text_pair"}: text pairs for models trained on them')
    .option('--threshold <p>', 'multi-label: a label is chosen when its sigmoid is over this', floatOption(0, 1), 0.5)
    .option('--max-length <n>', 'tokens per text, [CLS] and [SEP] included (default: the model\'s model_max_length)', intOption(2))
    .option('--max-text-chars <n>', `characters of each text read at most, by every part (default ${MAX_TEXT_CHARS.toLocaleString('en')}); a longer text is cut and flagged`, intOption(1))
    .option('--threads <n>', 'CPU threads', intOption(1))
    .option('--explain', 'also say which words made the label: each word\'s attribution (JSON: "explanation": [{"word", "start", "end", "segment", "score"}])')
    .addOption(new Option('--method <m>', 'attribution method: grad (gradient x input) or ig (integrated gradients)').choices([...EXPLAIN_METHODS]).default('grad'))
    .option('--steps <n>', `integrated gradients' steps (at most ${MAX_IG_STEPS})`, intOption(1), DEFAULT_IG_STEPS)
    .option('--label <name>', 'explain this label instead of the predicted one')
    .option('--strip <parts>', 'remove headers,footers,quotes before classifying (a model trained with --strip records and applies its own)', stripOption)
    .action(async (texts: string[], opts: PredictOptions) => {
      applyThreads(opts.threads);
      let lineTexts = texts;
      if (opts.file) {
        let content: string;
        try {
          content = readFileSync(opts.file, 'utf8');
        } catch (e) {
          throw new Error(`cannot read ${opts.file}: ${(e as Error).message}`);
        }
        const fromFile = lines(content);
        if (fromFile.length === 0) throw new Error(`${opts.file} has no text to classify (only blank lines)`);
        lineTexts = [...lineTexts, ...fromFile];
      }
      if (lineTexts.length === 0 && !opts.file) lineTexts = lines(readStdin());
      if (lineTexts.length === 0) throw new Error('no text to classify: give texts as arguments, --file, or lines on stdin');
      const inputs: TextInput[] = opts.jsonl ? lineTexts.map((l, i) => parseInput(l, `input ${i + 1}`)) : lineTexts;
      const classifier = Classifier.load(await resolveModel(opts.model, '--model <folder>', opts.revision),
        { maxLength: opts.maxLength, device: deviceChoice(opts), strip: opts.strip, maxTextChars: opts.maxTextChars });
      if (opts.label !== undefined && !classifier.labels.includes(opts.label)) throw new Error(`--label ${opts.label}: the model has no such label (labels: ${classifier.labels.join(', ')})`);
      if (!opts.explain && (opts.label !== undefined || opts.method !== 'grad' || opts.steps !== DEFAULT_IG_STEPS)) throw new Error('--method, --steps and --label choose what --explain explains: add --explain');
      const results = classifier.classify(inputs, opts.topK, opts.threshold);
      const explanations = opts.explain ? inputs.map((t) => {
        if (typeof t !== 'string') throw new Error('--explain explains single texts, not text pairs');
        return explain(classifier, t, { method: opts.method, steps: opts.steps, label: opts.label });
      }) : [];
      const out: string[] = [];
      results.forEach((r, i) => {
        const e = explanations[i];
        const input = inputs[i];
        if (opts.json) {
          const echo = typeof input === 'string' ? { text: input.slice(0, ECHO_CHARS), chars: input.length }
            : { text: input.text.slice(0, ECHO_CHARS), text_pair: input.textPair.slice(0, ECHO_CHARS), chars: input.text.length + input.textPair.length };
          const line: Record<string, unknown> = { ...echo, truncated: r.truncated, tokens: r.tokens, cut: r.cut, predictions: r.predictions };
          if (r.labels) line.labels = r.labels;
          if (r.value !== undefined) line.value = r.value;
          if (e) Object.assign(line, explanationJson(e));
          out.push(JSON.stringify(line));
          return;
        }
        const shown = textOf(input);
        const head = shown.length > 70 ? shown.slice(0, 67) + '...' : shown;
        out.push(`${JSON.stringify(head)}${r.truncated ? `  (truncated to ${classifier.maxLength} tokens)` : ''}${r.cut ? ` (cut to its first ${classifier.maxTextChars} characters)` : ''}`);
        if (r.value !== undefined) out.push(`  value ${r.value.toPrecision(6)}`);
        else for (const p of r.predictions) out.push(`  ${p.score.toFixed(4)}  ${p.label}${r.labels?.includes(p.label) ? '  (over the threshold)' : ''}`);
        if (r.labels) out.push(`  labels: ${r.labels.length ? r.labels.join(', ') : '(none over the threshold)'}`);
        if (e && typeof input === 'string') out.push(...explanationLines(e, input, colour()));
      });
      process.stdout.write(out.join('\n') + '\n');
    });
}

function colour(): boolean {
  return process.stdout.isTTY === true && !process.env.NO_COLOR;
}

/**
 * The text with its strongest words marked [+word] (for the label) or [-word] (against), in green or
 * red on a terminal, and the ten strongest words with their scores.
 */
export function explanationLines(e: Explanation, text: string, useColour: boolean): string[] {
  const shown = e.text ?? text;
  const words = e.words.filter((w) => w.read);
  const top = Math.max(1e-12, ...words.map((w) => Math.abs(w.score)));
  const strong = new Set(words.filter((w) => Math.abs(w.score) >= 0.25 * top));
  const paint = (s: string, plus: boolean) => (useColour ? `\x1b[${plus ? 32 : 31}m${s}\x1b[0m` : s);
  let marked = '', at = 0;
  const last = words.length ? Math.min(shown.length, words[Math.min(words.length, 80) - 1].end) : 0;
  for (const w of words) {
    if (w.start >= last) break;
    marked += shown.slice(at, w.start);
    marked += strong.has(w) ? paint(`[${w.score >= 0 ? '+' : '-'}${w.word}]`, w.score >= 0) : w.word;
    at = w.end;
  }
  if (!words.length) return [`  why ${e.label}: no word to explain (the text the model read, after its preprocessing, has none)`];
  const ranked = [...words].sort((a, b) => Math.abs(b.score) - Math.abs(a.score)).slice(0, 10);
  return [
    `  why ${e.label} (${e.method === 'ig' ? `integrated gradients, ${e.steps} steps` : 'gradient x input'} of its ${e.explains}; [+word] for, [-word] against):`,
    `    ${marked.replace(/\s+/g, ' ').trim()}${last < shown.length ? ' ...' : ''}`,
    `    strongest: ${ranked.map((w) => `${w.score >= 0 ? '+' : ''}${w.score.toFixed(3)} ${w.word}`).join(', ')}`,
  ];
}
