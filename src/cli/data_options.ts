import { Command, Option } from 'commander';
import { loadData } from '../data/source';
import { makeSplit, Split, SplitName } from '../data/split';
import { Newsgroups } from '../data/newsgroups';
import { strip, StripPart } from '../data/strip';
import { floatOption, intOption, stripOption } from './common';
import { PROBLEM_TYPES, ProblemType } from '../model/config';

export interface DataOptions {
  data?: string;
  split: SplitName;
  validationList?: string;
  splitSeed: number;
  strip?: StripPart[];
  textField?: string;
  textPairField?: string;
  labelField?: string;
  problemType?: ProblemType;
  labelSeparator?: string;
  encoding?: 'utf-8' | 'latin1';
  validationData?: string;
  validationFraction?: number;
}

/** The options shared by commands that read a data set and split it. */
export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--data <path>', '20news-bydate.tar.gz or its folder (default: download into the cache), or your own data: a .csv, a .jsonl, or a folder with one subfolder per label')
    .addOption(new Option('--split <name>', 'card: random 90/10 of all posts; bydate: official train/test (20 Newsgroups only)').choices(['card', 'bydate']).default('card'))
    .option('--validation-list <file>', 'archive paths of the validation posts (card split)')
    .option('--split-seed <n>', 'seed of the random card split', intOption(0), 42)
    .option('--validation-fraction <f>', 'share of the texts the random split holds out for validation (default 0.1)', floatOption(0.001, 0.999))
    .option('--validation-data <path>', 'your own validation texts (same format as --data) instead of a random split')
    .option('--text-field <name>', 'CSV column / JSON key of the text in your own data', 'text')
    .option('--text-pair-field <name>', 'CSV column / JSON key of a text pair\'s second text in your own data ([CLS] text [SEP] pair [SEP])')
    .option('--label-field <name>', 'CSV column / JSON key of the label in your own data', 'label')
    .addOption(new Option('--problem-type <type>', 'what the label field holds: one label, several (multi-label), or a number (regression)').choices([...PROBLEM_TYPES]))
    .option('--label-separator <s>', 'multi-label CSV: what joins a row\'s labels in its one column (default ";")')
    .addOption(new Option('--encoding <name>', 'encoding of your own data files').choices(['utf-8', 'latin1']).default('utf-8'))
    .option('--strip <parts>', 'remove headers,footers,quotes (scikit-learn rules)', stripOption);
}

/** Loads --data and splits it as the options say. */
export async function loadSplit(o: DataOptions): Promise<{ data: Newsgroups; source: string; split: Split }> {
  const { data, source } = await loadData(o.data, { textField: o.textField, textPairField: o.textPairField, labelField: o.labelField, encoding: o.encoding, validationData: o.validationData, problemType: o.problemType, labelSeparator: o.labelSeparator });
  const split = makeSplit(data, o.split, { seed: o.splitSeed, validationList: o.validationList, fraction: o.validationFraction });
  return { data, source, split };
}

export interface SplitTexts {
  split: Split;
  labels: string[];
  train: { texts: string[]; labels: Int32Array };
  test: { texts: string[]; labels: Int32Array };
}

/** Loads the data, splits it, applies the strip rules, and maps groups to label ids (alphabetical). */
export async function loadSplitTexts(o: DataOptions, parts: StripPart[]): Promise<SplitTexts> {
  const { data, split } = await loadSplit(o);
  if (data.pairs || data.problemType !== 'single_label_classification') {
    throw new Error(`this command reads single texts with one label each, not ${data.pairs ? 'text pairs' : `${data.problemType} data`} (train, evaluate, predict and serve take those)`);
  }
  const index = new Map(data.labels.map((l, i) => [l, i]));
  const side = (posts: Split['train']) => ({ texts: posts.map((p) => strip(p.text, parts)), labels: Int32Array.from(posts, (p) => index.get(p.group)!) });
  return { split, labels: data.labels, train: side(split.train), test: side(split.test) };
}
