import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GROUPS = ['alt.atheism', 'comp.graphics', 'rec.autos', 'sci.space'];
const WORDS = ['god', 'pixel', 'engine', 'orbit', 'the', 'a', 'is', 'and', 'of', 'to'];

/**
 * A miniature bydate folder: for each of four groups, `perGroup` train and test posts made of
 * the group's own topic word among common words (so a model can learn it), with a header.
 */
export function makeNewsgroupsFolder(perGroup = 12): string {
  const dir = mkdtempSync(join(tmpdir(), 'news-'));
  let n = 1000;
  for (const split of ['train', 'test']) {
    GROUPS.forEach((g, gi) => {
      const d = join(dir, `20news-bydate-${split}`, g);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < perGroup; i++) {
        const words = Array.from({ length: 6 + (i % 5) }, (_, k) => (k % 3 === 0 ? WORDS[gi] : WORDS[4 + ((i + k) % 6)]));
        writeFileSync(join(d, String(n++)), `From: user${i}@example.com\nSubject: post ${i}\n\n${words.join(' ')}\n`, 'latin1');
      }
    });
  }
  return dir;
}

/** A vocabulary with BERT's special tokens and the fixture's words. */
export function makeVocab(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vocab-'));
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS, 'from', 'user', '@', 'example', '.', 'com', 'subject', ':', 'post', ...'0123456789'.split(''), ...'0123456789'.split('').map((d) => `##${d}`)];
  const path = join(dir, 'vocab.txt');
  writeFileSync(path, tokens.join('\n') + '\n');
  return path;
}
