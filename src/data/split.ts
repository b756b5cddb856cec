import { readFileSync } from 'node:fs';
import { Newsgroups, Post } from './newsgroups';
import { Random } from './random';

export type SplitName = 'card' | 'bydate';

export interface Split {
  name: SplitName;
  train: Post[];
  /** Validation for `card`, the official test set for `bydate`. */
  test: Post[];
  /** How the split was made, for reports and model cards. */
  description: string;
}

export interface SplitOptions {
  /** Seed of the random 10% for `card` without a list. */
  seed?: number;
  /** File of archive paths (one per line) that form the validation set, for `card`. */
  validationList?: string;
  /** Share of the posts drawn for validation by `card` without a list (default 0.1). */
  fraction?: number;
}

/**
 * `card`: 10% of all 18,846 posts for validation, chosen at random with a seed (or as listed
 * in --validation-list), the rest for training, as on the model card; `bydate`: official
 * train / test folders.
 */
export function makeSplit(data: Newsgroups, name: SplitName, opts: SplitOptions = {}): Split {
  const posts = data.posts;
  if (data.kind === 'files') {
    if (name === 'bydate') throw new Error('--split bydate is the 20 Newsgroups archive\'s own split: for your data give --validation-data or --validation-fraction');
    const given = posts.filter((p) => p.split === 'test');
    if (given.length) {
      return {
        name, train: posts.filter((p) => p.split === 'train'), test: given,
        description: `validation = the ${given.length} texts of --validation-data, training = the other ${posts.length - given.length}`,
      };
    }
  }
  if (name === 'bydate') {
    return {
      name,
      train: posts.filter((p) => p.split === 'train'),
      test: posts.filter((p) => p.split === 'test'),
      description: 'bydate: the official 20news-bydate-train / 20news-bydate-test folders',
    };
  }
  if (name !== 'card') throw new Error(`unknown split ${JSON.stringify(name)} (card or bydate)`);
  let inVal: Set<string>;
  let description: string;
  if (opts.validationList) {
    const listed = readFileSync(opts.validationList, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    inVal = new Set(listed);
    const known = new Set(posts.map((p) => p.path));
    const unknown = listed.find((p) => !known.has(p));
    if (unknown) throw new Error(`${opts.validationList}: ${unknown} is not a post of the data set`);
    description = `card: validation = the ${inVal.size} posts listed in ${opts.validationList}, training = the other ${posts.length - inVal.size}`;
  } else {
    const seed = opts.seed ?? 42;
    const fraction = opts.fraction ?? 0.1;
    const nVal = Math.floor(posts.length * fraction);
    if (nVal < 1 || nVal >= posts.length) throw new Error(`a validation fraction of ${fraction} leaves no texts for ${nVal < 1 ? 'validation' : 'training'} among ${posts.length}`);
    const order = new Random(seed).permutation(posts.length);
    inVal = new Set(order.slice(0, nVal).map((i) => posts[i].path));
    const pct = Math.round(fraction * 1000) / 10;
    description = `card: random ${Math.round((100 - pct) * 10) / 10}/${pct} split of all ${posts.length} posts (seed ${seed}): ${posts.length - nVal} training, ${nVal} validation`;
  }
  return { name, train: posts.filter((p) => !inVal.has(p.path)), test: posts.filter((p) => inVal.has(p.path)), description };
}
