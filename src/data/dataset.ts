import { BertTokenizer, Encoding } from '../tokenizer';
import { Post } from './newsgroups';
import { strip, StripPart } from './strip';

/** Encoded texts with their label ids. */
export interface LabelledSet {
  encodings: Encoding[];
  labels: Int32Array;
}

/** Tokenizes posts ([CLS] text [SEP], truncated to maxLength) and maps groups to label ids. */
export function encodePosts(posts: Post[], labels: string[], tokenizer: BertTokenizer, maxLength: number, stripParts: StripPart[] = []): LabelledSet {
  const index = new Map(labels.map((l, i) => [l, i]));
  const ids = new Int32Array(posts.length);
  const encodings = posts.map((p, i) => {
    const label = index.get(p.group);
    if (label === undefined) throw new Error(`post ${p.path}: group ${p.group} is not one of the model's labels`);
    ids[i] = label;
    return tokenizer.encode(strip(p.text, stripParts), { maxLength });
  });
  return { encodings, labels: ids };
}
