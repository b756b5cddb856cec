import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cachedDownload, PINNED_SHA256, SOURCES } from '../io/download';
import { DEFAULT_TEXT_OPTIONS, LabelledText, readLabelledTexts, TextFileOptions } from './labelled_files';
import { loadNewsgroups, Newsgroups, Post } from './newsgroups';

export interface DataSourceOptions extends Partial<TextFileOptions> {
  /** A file (or folder) of validation texts for the user's own data. */
  validationData?: string;
}

/** True for the 20 Newsgroups archive, or a folder holding its 20news-bydate-{train,test}. */
function isNewsgroups(path: string): boolean {
  if (statSync(path).isDirectory()) return ['train', 'test'].some((s) => existsSync(join(path, `20news-bydate-${s}`)));
  return /\.(tar\.gz|tgz)$/i.test(path);
}

/**
 * A user's labelled texts as a data set: labels from the training data (sorted; multi-label: every
 * label a row names; regression: the label field's name, for the one value), validation texts
 * (split 'test') from `validationData`, each text's path its file and line.
 */
function ownData(path: string, o: DataSourceOptions): Newsgroups {
  const opts = { ...DEFAULT_TEXT_OPTIONS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as TextFileOptions;
  const toPost = (t: LabelledText, split: Post['split']): Post => ({ path: t.where, split, group: t.label, text: t.text, pair: t.textPair, groups: t.labels, value: t.value });
  const posts = readLabelledTexts(path, opts).map((t) => toPost(t, 'train'));
  const multi = opts.problemType === 'multi_label_classification';
  const labels = opts.problemType === 'regression' ? [opts.labelField] : [...new Set(posts.flatMap((p) => (multi ? p.groups! : [p.group])))].sort();
  if (o.validationData) {
    const known = new Set(labels);
    for (const t of readLabelledTexts(o.validationData, opts)) {
      const unknown = opts.problemType === 'regression' ? undefined : (multi ? t.labels! : [t.label]).find((l) => !known.has(l));
      if (unknown !== undefined) throw new Error(`${t.where}: label ${JSON.stringify(unknown)} never occurs in the training data ${path}`);
      posts.push(toPost(t, 'test'));
    }
  }
  if (opts.problemType === 'single_label_classification' && labels.length < 2) throw new Error(`${path}: a classifier needs at least two labels, found ${labels.length} (${labels.join(', ')})`);
  if (multi && labels.length < 1) throw new Error(`${path}: no row names a label (multi-label data needs at least one label in use)`);
  return { posts, labels, kind: 'files', problemType: opts.problemType, pairs: opts.textPairField !== undefined };
}

/**
 * Loads --data: the 20 Newsgroups archive or folder (downloaded into the cache when not given),
 * or the user's own CSV / JSON Lines file / folder of label folders.
 */
export async function loadData(data: string | undefined, o: DataSourceOptions = {}): Promise<{ data: Newsgroups; source: string }> {
  if (data !== undefined && !existsSync(data)) throw new Error(`data ${data} does not exist`);
  if (data !== undefined && !isNewsgroups(data)) return { data: ownData(data, o), source: data };
  if (o.validationData) throw new Error('--validation-data is for your own data (--data FILE): 20 Newsgroups has its card and bydate splits');
  // The pinned hash holds for the default mirror; a BERT20NEWS_DATA_URL of one's own is checked by format only.
  const pin = process.env.BERT20NEWS_DATA_URL ? undefined : PINNED_SHA256.newsgroups;
  const source = data ?? (await cachedDownload(SOURCES.newsgroups, '20news-bydate.tar.gz', '--data <20news-bydate.tar.gz | folder>', pin));
  return { data: await loadNewsgroups(source), source };
}
