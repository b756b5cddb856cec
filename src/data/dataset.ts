import type { ProblemType } from '../model/config';
import { BertTokenizer, Encoding } from '../tokenizer';
import { Post } from './newsgroups';
import { strip, StripPart } from './strip';

/**
 * Encoded texts with what the loss reads: class ids (single-label), or float targets (multi-label:
 * rows x labels of 0/1; regression: one value a row).
 */
export interface LabelledSet {
  problemType: ProblemType;
  encodings: Encoding[];
  /** Single-label: the class id of each text (empty for the other problem types). */
  labels: Int32Array;
  /** Multi-label and regression: the targets, row-major (empty for single-label). */
  targets: Float32Array;
}

/**
 * Tokenizes posts ([CLS] text [SEP], or [CLS] text [SEP] pair [SEP]; truncated to maxLength) and
 * maps their labels to what the problem type's loss reads.
 */
export function encodePosts(posts: Post[], labels: string[], tokenizer: BertTokenizer, maxLength: number, stripParts: StripPart[] = [], problemType: ProblemType = 'single_label_classification'): LabelledSet {
  const index = new Map(labels.map((l, i) => [l, i]));
  const C = labels.length;
  const single = problemType === 'single_label_classification';
  const ids = new Int32Array(single ? posts.length : 0);
  const targets = new Float32Array(single ? 0 : problemType === 'regression' ? posts.length : posts.length * C);
  const encodings = posts.map((p, i) => {
    const unknown = (l: string) => new Error(`post ${p.path}: label ${l} is not one of the model's labels`);
    if (single) {
      const label = index.get(p.group);
      if (label === undefined) throw unknown(p.group);
      ids[i] = label;
    } else if (problemType === 'regression') {
      if (p.value === undefined) throw new Error(`post ${p.path}: no value to regress on`);
      targets[i] = p.value;
    } else {
      for (const l of p.groups ?? []) {
        const c = index.get(l);
        if (c === undefined) throw unknown(l);
        targets[i * C + c] = 1;
      }
    }
    const text = strip(p.text, stripParts);
    return p.pair !== undefined ? tokenizer.encodePair(text, strip(p.pair, stripParts), { maxLength }) : tokenizer.encode(text, { maxLength });
  });
  return { problemType, encodings, labels: ids, targets };
}
