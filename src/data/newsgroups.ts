import type { ProblemType } from '../model/config';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';

/** One post of the 20 Newsgroups bydate set (or one text of a user's data, its label as group). */
export interface Post {
  /** Path inside the archive, e.g. 20news-bydate-test/alt.atheism/53261 */
  path: string;
  split: 'train' | 'test';
  /** The label (single-label data). */
  group: string;
  text: string;
  /** A text pair's second text. */
  pair?: string;
  /** Multi-label data: the labels (possibly none). */
  groups?: string[];
  /** Regression data: the value. */
  value?: number;
}

/** A labelled data set: the 20 Newsgroups archive, or a user's own files (src/data/source.ts). */
export interface Newsgroups {
  posts: Post[];
  /** The group names in alphabetical order: label i = labels[i]. */
  labels: string[];
  /** `files`: a user's CSV / JSON Lines / folder, whose path is file:line and split 'test' is --validation-data. */
  kind: 'newsgroups' | 'files';
  /** What each post's label is (20 Newsgroups: single-label); regression's one label names the value. */
  problemType: ProblemType;
  /** Whether posts are text pairs. */
  pairs: boolean;
}

const PATH_RE = /^(?:\.\/)?20news-bydate-(train|test)\/([^/]+)\/([^/]+)$/;

/** Reads the bydate set from the .tar.gz or from a folder holding 20news-bydate-{train,test}. */
export async function loadNewsgroups(source: string): Promise<Newsgroups> {
  if (!existsSync(source)) throw new Error(`data ${source} does not exist`);
  const posts = statSync(source).isDirectory() ? readFolder(source) : await readArchive(source);
  if (posts.length === 0) throw new Error(`${source}: no posts found under 20news-bydate-train/ or 20news-bydate-test/`);
  // Sort by path so that every later step (split, order) is independent of archive order.
  posts.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const labels = [...new Set(posts.map((p) => p.group))].sort();
  return { posts, labels, kind: 'newsgroups', problemType: 'single_label_classification', pairs: false };
}

function toPost(path: string, bytes: Buffer): Post | undefined {
  const m = PATH_RE.exec(path);
  if (!m) return undefined;
  // The posts are 8-bit; latin-1 maps every byte to one character, as scikit-learn reads them.
  return { path: path.replace(/^\.\//, ''), split: m[1] as 'train' | 'test', group: m[2], text: bytes.toString('latin1') };
}

function readFolder(dir: string): Post[] {
  const posts: Post[] = [];
  for (const split of ['train', 'test']) {
    const top = `20news-bydate-${split}`;
    const splitDir = join(dir, top);
    if (!existsSync(splitDir)) continue;
    for (const group of readdirSync(splitDir)) {
      const groupDir = join(splitDir, group);
      if (!statSync(groupDir).isDirectory()) continue;
      for (const file of readdirSync(groupDir)) {
        const post = toPost(`${top}/${group}/${file}`, readFileSync(join(groupDir, file)));
        if (post) posts.push(post);
      }
    }
  }
  return posts;
}

function readArchive(path: string): Promise<Post[]> {
  return new Promise((resolve, reject) => {
    const posts: Post[] = [];
    const tar = extract();
    tar.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') {
          const post = toPost(header.name, Buffer.concat(chunks));
          if (post) posts.push(post);
        }
        next();
      });
      stream.on('error', reject);
    });
    tar.on('finish', () => resolve(posts));
    tar.on('error', (e: Error) => reject(new Error(`${path}: not a readable .tar.gz (${e.message})`)));
    const gunzip = createGunzip();
    gunzip.on('error', (e) => reject(new Error(`${path}: not a readable .tar.gz (${e.message})`)));
    createReadStream(path).on('error', reject).pipe(gunzip).pipe(tar);
  });
}
