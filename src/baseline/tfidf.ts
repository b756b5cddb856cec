/**
 * TF-IDF features as scikit-learn's TfidfVectorizer(sublinear_tf=True) with one of two analyzers:
 * 'word' (ngram_range=(1, 2)): lowercase, tokens = runs of 2+ word characters, unigrams and
 * adjacent bigrams; 'char_wb' (ngram_range=(3, 5)): lowercase character 3- to 5-grams inside
 * whitespace-separated words padded with one space. tf = 1 + ln(count),
 * idf = ln((1 + n) / (1 + df)) + 1, rows scaled to unit L2 norm.
 */

/** A sparse row-major matrix: row r is indices/values[indptr[r] .. indptr[r+1]). */
export interface Csr {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

const TOKEN = /[\p{L}\p{N}_]{2,}/gu;

export type Analyzer = 'word' | 'char_wb';

export const ANALYZERS: readonly Analyzer[] = ['word', 'char_wb'];

export function analyze(text: string): string[] {
  const tokens = text.toLowerCase().match(TOKEN) ?? [];
  const grams = tokens.slice();
  for (let i = 0; i + 1 < tokens.length; i++) grams.push(tokens[i] + ' ' + tokens[i + 1]);
  return grams;
}

const CHAR_MIN = 3, CHAR_MAX = 5;

/**
 * scikit-learn's _char_wb_ngrams(ngram_range=(3, 5)) on the lowercased text, step for step: once a
 * padded word is no longer than n it yields itself whole, once, and the larger n are skipped.
 */
export function analyzeCharWb(text: string): string[] {
  const grams: string[] = [];
  for (const word of text.toLowerCase().split(/\s+/)) {
    if (word === '') continue;
    const w = ' ' + word + ' ';
    for (let n = CHAR_MIN; n <= CHAR_MAX; n++) {
      let offset = 0;
      grams.push(w.slice(offset, offset + n));
      while (offset + n < w.length) {
        offset++;
        grams.push(w.slice(offset, offset + n));
      }
      if (offset === 0) break;
    }
  }
  return grams;
}

const ANALYZE: Record<Analyzer, (text: string) => string[]> = { word: analyze, char_wb: analyzeCharWb };

/** A gram and the spans of original characters (UTF-16 [start, end) of the text) it was read from. */
export interface GramSpans {
  gram: string;
  spans: [number, number][];
}

/**
 * The text lowercased as the analyzers read it, with each lowercased code unit's original span:
 * toLowerCase() can lengthen a character (U+0130 becomes two), never merge two.
 */
function lowercaseWithSpans(text: string): { lower: string; start: Int32Array; end: Int32Array } {
  const lower = text.toLowerCase();
  const start = new Int32Array(lower.length), end = new Int32Array(lower.length);
  if (lower.length === text.length) {
    for (let i = 0; i < text.length; i++) (start[i] = i), (end[i] = i + 1);
    return { lower, start, end };
  }
  let k = 0;
  for (let i = 0; i < text.length && k < lower.length; ) {
    const e = i + (text.codePointAt(i)! > 0xffff ? 2 : 1);
    for (let n = text.slice(i, e).toLowerCase().length; n > 0 && k < lower.length; n--, k++) (start[k] = i), (end[k] = e);
    i = e;
  }
  return { lower, start, end };
}

/** analyze() or analyzeCharWb(), the same grams in the same order, each with its spans in the original text. */
export function analyzeWithSpans(text: string, analyzer: Analyzer): GramSpans[] {
  const { lower, start, end } = lowercaseWithSpans(text);
  const span = (a: number, b: number): [number, number] => [start[a], end[b - 1]];
  const grams: GramSpans[] = [];
  if (analyzer === 'word') {
    const tokens = [...lower.matchAll(TOKEN)].map((m) => ({ gram: m[0], spans: [span(m.index!, m.index! + m[0].length)] }));
    grams.push(...tokens);
    for (let i = 0; i + 1 < tokens.length; i++) grams.push({ gram: tokens[i].gram + ' ' + tokens[i + 1].gram, spans: [tokens[i].spans[0], tokens[i + 1].spans[0]] });
    return grams;
  }
  // split(/\s+/) without its empty strings: the runs of non-space characters.
  for (const m of lower.matchAll(/\S+/g)) {
    const word = m[0], at = m.index!;
    const w = ' ' + word + ' ';
    // A gram at offset o of the padded word reads the word's characters [o - 1, o + n - 1), clipped.
    const push = (o: number, n: number) => grams.push({ gram: w.slice(o, o + n), spans: [span(at + Math.max(o - 1, 0), at + Math.min(o + n - 1, word.length))] });
    for (let n = CHAR_MIN; n <= CHAR_MAX; n++) {
      let offset = 0;
      push(offset, n);
      while (offset + n < w.length) {
        offset++;
        push(offset, n);
      }
      if (offset === 0) break;
    }
  }
  return grams;
}

export class TfidfVectorizer {
  private vocab = new Map<string, number>();
  private idf = new Float64Array(0);

  /** minDf: terms in fewer texts are dropped (scikit-learn's min_df as a count). */
  constructor(readonly minDf = 1, readonly analyzer: Analyzer = 'word') {}

  get features(): number {
    return this.vocab.size;
  }

  /** The fitted terms in column order, and their idf: what restore() takes back. */
  state(): { terms: string[]; idf: Float64Array } {
    return { terms: [...this.vocab.keys()], idf: this.idf };
  }

  static restore(terms: string[], idf: ArrayLike<number>, analyzer: Analyzer = 'word'): TfidfVectorizer {
    if (terms.length !== idf.length) throw new Error(`${terms.length} terms but ${idf.length} idf values`);
    const v = new TfidfVectorizer(1, analyzer);
    terms.forEach((t, j) => v.vocab.set(t, j));
    if (v.vocab.size !== terms.length) throw new Error('the TF-IDF terms are not distinct');
    v.idf = Float64Array.from(idf);
    return v;
  }

  fit(texts: string[]): this {
    this.learnTerms(texts);
    return this;
  }

  /**
   * fit(texts) then transform(texts) in one pass over the texts: each text is analyzed and its terms
   * looked up once, not twice (string hashing is most of the cost; on the card split's training part
   * the char_wb part's transform took longer than its SVM).
   */
  fitTransform(texts: string[]): Csr {
    return this.rows(this.learnTerms(texts));
  }

  /** Learns the terms and their idf from the texts; returns each text's term columns (-1: dropped). */
  private learnTerms(texts: string[]): Int32Array[] {
    this.vocab = new Map();
    const df: number[] = [];
    const lastText: number[] = [];
    const ids = texts.map((t, r) => {
      const grams = ANALYZE[this.analyzer](t);
      const out = new Int32Array(grams.length);
      grams.forEach((g, k) => {
        let j = this.vocab.get(g);
        if (j === undefined) {
          j = this.vocab.size;
          this.vocab.set(g, j);
          df.push(0);
          lastText.push(-1);
        }
        if (lastText[j] !== r) {
          lastText[j] = r;
          df[j]++;
        }
        out[k] = j;
      });
      return out;
    });
    // Terms in fewer than minDf texts are dropped; the kept ones renumbered in order of first appearance.
    const column = new Int32Array(df.length).fill(-1);
    const keptDf: number[] = [];
    const kept = new Map<string, number>();
    for (const [g, j] of this.vocab) {
      if (df[j] < this.minDf) continue;
      column[j] = kept.size;
      kept.set(g, kept.size);
      keptDf.push(df[j]);
    }
    this.vocab = kept;
    const n = texts.length;
    this.idf = Float64Array.from(keptDf, (d) => Math.log((1 + n) / (1 + d)) + 1);
    return ids.map((row) => row.map((j) => column[j]));
  }

  /** A text's features (column, TF-IDF value) with the spans of each one's occurrences in the text. */
  featureSpans(text: string): { column: number; value: number; occurrences: [number, number][][] }[] {
    const grams = analyzeWithSpans(text, this.analyzer);
    const columns = Int32Array.from(grams, (g) => this.vocab.get(g.gram) ?? -1);
    const row = this.rows([columns]);
    const occurrences = new Map<number, [number, number][][]>();
    grams.forEach((g, k) => {
      const j = columns[k];
      if (j < 0) return;
      const list = occurrences.get(j);
      if (list) list.push(g.spans);
      else occurrences.set(j, [g.spans]);
    });
    return Array.from(row.indices, (column, q) => ({ column, value: row.values[q], occurrences: occurrences.get(column)! }));
  }

  /** Terms not seen by fit() are ignored, as in scikit-learn. */
  transform(texts: string[]): Csr {
    return this.rows(texts.map((t) => Int32Array.from(ANALYZE[this.analyzer](t), (g) => this.vocab.get(g) ?? -1)));
  }

  /** TF-IDF rows from each text's term columns (-1: not a feature), columns in increasing order. */
  private rows(termColumns: Int32Array[]): Csr {
    const indptr = new Int32Array(termColumns.length + 1);
    const idx: number[] = [];
    const val: number[] = [];
    const counts = new Float64Array(this.vocab.size);
    termColumns.forEach((terms, r) => {
      const cols: number[] = [];
      for (const j of terms) {
        if (j < 0) continue;
        if (counts[j] === 0) cols.push(j);
        counts[j]++;
      }
      cols.sort((a, b) => a - b);
      const w = cols.map((j) => (1 + Math.log(counts[j])) * this.idf[j]);
      for (const j of cols) counts[j] = 0;
      // A sum of squares, not Math.hypot(...w): a long text's char n-grams overflow the argument list.
      let sq = 0;
      for (const x of w) sq += x * x;
      const norm = Math.sqrt(sq) || 1;
      cols.forEach((j, k) => {
        idx.push(j);
        val.push(w[k] / norm);
      });
      indptr[r + 1] = idx.length;
    });
    return { rows: termColumns.length, cols: this.vocab.size, indptr, indices: Int32Array.from(idx), values: Float32Array.from(val) };
  }
}
