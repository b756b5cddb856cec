/**
 * Writes 20 Newsgroups as token ids for engine_check's `train-card` (native/tools/engine_check.cc),
 * which trains on machines without Node.js (scripts/gpu-check.sh): the posts tokenized here by
 * our tokenizer (identical to Hugging Face's), split as `train` splits them.
 *
 *   node dist/bench/export_tokens.js --data 20news-bydate.tar.gz --vocab vocab.txt --out tokens.bin
 *     [--validation-list card_split_validation_paths.txt] [--max-length 512]
 *
 * Format: "B20TOK1\n", u32 labels, u32 max_length, u32 n_train, u32 n_validation, then per post
 * u32 label, u32 length, length x u16 ids (training posts first), little-endian.
 */
import { encodePosts } from '../src/data/dataset';
import { loadData } from '../src/data/source';
import { makeSplit } from '../src/data/split';
import { writeFileAtomic } from '../src/io/atomic';
import { BertTokenizer } from '../src/tokenizer';
import { arg, optionalArg } from './args';

async function main(): Promise<void> {
  const { data } = await loadData(arg('data'));
  const tokenizer = BertTokenizer.load(arg('vocab'));
  if (tokenizer.vocab.idToToken.length > 65536) throw new Error('the vocabulary does not fit 16-bit ids');
  const maxLength = Number(arg('max-length', '512'));
  const list = optionalArg('validation-list');
  const split = makeSplit(data, 'card', { seed: 42, validationList: list });
  const sets = [split.train, split.test].map((posts) => encodePosts(posts, data.labels, tokenizer, maxLength));
  const head = Buffer.alloc(24);
  head.write('B20TOK1\n', 0, 'latin1');
  [data.labels.length, maxLength, sets[0].labels.length, sets[1].labels.length].forEach((v, i) => head.writeUInt32LE(v, 8 + 4 * i));
  const chunks: Buffer[] = [head];
  for (const set of sets) {
    set.encodings.forEach((e, i) => {
      const b = Buffer.alloc(8 + 2 * e.ids.length);
      b.writeUInt32LE(set.labels[i], 0);
      b.writeUInt32LE(e.ids.length, 4);
      e.ids.forEach((id, k) => b.writeUInt16LE(id, 8 + 2 * k));
      chunks.push(b);
    });
  }
  writeFileAtomic(arg('out'), chunks);
  process.stderr.write(`${split.description}: ${sets[0].labels.length} training and ${sets[1].labels.length} validation posts -> ${arg('out')}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`export_tokens: ${e.message}\n`);
  process.exit(1);
});
