import { Command, Option } from 'commander';
import { loadData } from '../data/source';
import { makeSplit, Split, SplitName } from '../data/split';
import { parseStrip, strip } from '../data/strip';
import { intOption } from './common';

export interface DataOptions {
  data?: string;
  split: SplitName;
  validationList?: string;
  splitSeed: number;
  strip?: string;
}

/** The options shared by commands that read 20 Newsgroups and split it. */
export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--data <path>', '20news-bydate.tar.gz or its extracted folder (default: download into the cache)')
    .addOption(new Option('--split <name>', 'card: random 90/10 of all posts; bydate: official train/test').choices(['card', 'bydate']).default('card'))
    .option('--validation-list <file>', 'archive paths of the validation posts (card split)')
    .option('--split-seed <n>', 'seed of the random card split', intOption(0), 42)
    .option('--strip <parts>', 'remove headers,footers,quotes (scikit-learn rules)');
}

export interface SplitTexts {
  split: Split;
  labels: string[];
  train: { texts: string[]; labels: Int32Array };
  test: { texts: string[]; labels: Int32Array };
}

/** Loads the data, splits it, strips what was asked, and maps groups to label ids (alphabetical). */
export async function loadSplitTexts(o: DataOptions): Promise<SplitTexts> {
  const { data } = await loadData(o.data);
  const split = makeSplit(data, o.split, { seed: o.splitSeed, validationList: o.validationList });
  const parts = parseStrip(o.strip);
  const index = new Map(data.labels.map((l, i) => [l, i]));
  const side = (posts: Split['train']) => ({ texts: posts.map((p) => strip(p.text, parts)), labels: Int32Array.from(posts, (p) => index.get(p.group)!) });
  return { split, labels: data.labels, train: side(split.train), test: side(split.test) };
}
