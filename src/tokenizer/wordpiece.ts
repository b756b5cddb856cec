import { Vocab } from './vocab';

/**
 * Greedy longest-match-first WordPiece over one pre-tokenized word. A word longer than
 * maxCharsPerWord characters, or one with any piece missing from the vocabulary, becomes [UNK].
 */
export class WordPiece {
  private readonly cache = new Map<string, number[]>();

  constructor(
    private readonly vocab: Vocab,
    private readonly unkId: number,
    private readonly maxCharsPerWord = 100,
    private readonly prefix = '##',
  ) {}

  encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const ids = this.encodeUncached(word);
    // Words repeat a lot in a corpus; the cache is bounded so a long-running server stays small.
    if (this.cache.size > 200_000) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private encodeUncached(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > this.maxCharsPerWord) return [this.unkId];
    const ids: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = -1;
      while (start < end) {
        let piece = chars.slice(start, end).join('');
        if (start > 0) piece = this.prefix + piece;
        const id = this.vocab.tokenToId.get(piece);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) return [this.unkId];
      ids.push(found);
      start = end;
    }
    return ids;
  }
}
