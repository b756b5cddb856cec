import { Command } from 'commander';
import { faithfulness, FaithfulnessResult } from '../bench/faithfulness';
import { Random } from '../data/random';
import { resolveModel } from '../io/hub';
import { Classifier } from '../pipeline/classifier';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, intOption } from './common';
import { addDataOptions, DataOptions, loadSplitTexts } from './data_options';

interface FaithfulnessOptions extends DataOptions, DeviceOptions {
  model: string;
  texts: number;
  igTexts: number;
  igSteps: number;
  seed: number;
  json?: boolean;
  threads?: number;
}

export function faithfulnessCommand(): Command {
  return addDeviceOptions(addDataOptions(new Command('faithfulness')))
    .description('how much the words explanations pick matter: the predicted label\'s probability drop when its top 5 words are deleted, minus the drop for 5 random words (ERASER comprehensiveness), on validation texts')
    .requiredOption('--model <dir>', 'model folder (a hybrid is measured fused and as its transformer alone)')
    .option('--texts <n>', 'validation texts for gradient x input', intOption(1), 200)
    .option('--ig-texts <n>', 'validation texts for integrated gradients (0: none)', intOption(0), 50)
    .option('--ig-steps <n>', 'integrated gradients\' steps', intOption(1), 16)
    .option('--seed <n>', 'seed of the texts\' draw and the random words', intOption(0), 0)
    .option('--json', 'one JSON object: {model, results: [{system, method, texts, dropTop, dropRandom, comprehensiveness, ...}]}')
    .option('--threads <n>', 'CPU threads', intOption(1))
    .action(async (o: FaithfulnessOptions) => {
      applyThreads(o.threads);
      const classifier = Classifier.load(await resolveModel(o.model, '--model <folder>', o.revision), { device: deviceChoice(o), strip: o.strip });
      const d = await loadSplitTexts(o, []);
      const order = new Random(o.seed).permutation(d.test.texts.length).map((i) => d.test.texts[i]);
      const systems: [string, Classifier][] = classifier.hybrid ? [['hybrid', classifier], ['its transformer alone', new Classifier({ ...classifier, hybrid: undefined })]] : [['model', classifier]];
      const results: (FaithfulnessResult & { system: string })[] = [];
      for (const [system, c] of systems) {
        results.push({ system, ...faithfulness(c, order.slice(0, o.texts), { method: 'grad', seed: o.seed }) });
        if (o.igTexts > 0) results.push({ system, ...faithfulness(c, order.slice(0, o.igTexts), { method: 'ig', steps: o.igSteps, seed: o.seed }) });
        for (const r of results.slice(-2)) if (r.system === system) process.stderr.write(`${system}, ${r.method}${r.steps ? ` (${r.steps} steps)` : ''}: ${r.texts} texts in ${r.seconds.toFixed(0)} s\n`);
      }
      if (o.json) {
        process.stdout.write(JSON.stringify({ model: o.model, split: d.split.description, results }) + '\n');
        return;
      }
      const rows = results.map((r) => `${r.system.padEnd(22)} ${(r.method + (r.steps ? ` ${r.steps} steps` : '')).padEnd(14)} ${String(r.texts).padStart(5)}  ` +
        `${r.dropTop.toFixed(4)}  ${r.dropRandom.toFixed(4)}  ${r.comprehensiveness.toFixed(4)}${r.completenessError !== undefined ? `  ${r.completenessError.toFixed(4)}` : ''}`);
      process.stdout.write([d.split.description, 'system                 method         texts  drop top5  drop random5  comprehensiveness  (IG completeness error)', ...rows].join('\n') + '\n');
    });
}
