import { readFileSync } from 'node:fs';

/** WordPiece vocabulary: token string <-> id, plus the ids of BERT's special tokens. */
export class Vocab {
  readonly tokenToId: Map<string, number>;
  readonly idToToken: string[];

  /** `source` names the file in errors. */
  constructor(tokens: string[], source = 'vocab') {
    this.idToToken = tokens;
    this.tokenToId = new Map();
    tokens.forEach((t, i) => {
      // The first occurrence wins, as in HF's load_vocab for a duplicated line.
      if (!this.tokenToId.has(t)) this.tokenToId.set(t, i);
    });
    for (const t of ['[PAD]', '[UNK]', '[CLS]', '[SEP]']) {
      if (!this.tokenToId.has(t)) throw new Error(`${source}: the vocabulary has no ${t} token (${tokens.length} lines): not a BERT vocabulary`);
    }
  }

  get size(): number {
    return this.idToToken.length;
  }

  id(token: string): number {
    const id = this.tokenToId.get(token);
    if (id === undefined) throw new Error(`token ${token} not in vocabulary`);
    return id;
  }

  /** vocab.txt: one token per line, id = line number - 1. */
  static fromVocabTxt(path: string): Vocab {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`cannot read vocabulary ${path}: ${(e as Error).message}`);
    }
    if (text.includes('\0') || text.includes('\uFFFD')) throw new Error(`${path}: not a vocab.txt (binary or not UTF-8)`);
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return new Vocab(lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)), path);
  }

  /** tokenizer.json (HF tokenizers): the WordPiece model's vocab object, token -> id. */
  static fromTokenizerJson(path: string): Vocab {
    let parsed: { model?: { type?: string; vocab?: Record<string, number> } };
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new Error(`cannot read tokenizer ${path}: ${(e as Error).message}`);
    }
    const vocab = parsed.model?.vocab;
    if (parsed.model?.type !== 'WordPiece' || !vocab || typeof vocab !== 'object') {
      throw new Error(`${path}: not a WordPiece tokenizer.json (model.type must be WordPiece)`);
    }
    const tokens: string[] = [];
    for (const [tok, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`${path}: bad id for token ${tok}`);
      tokens[id] = tok;
    }
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] === undefined) throw new Error(`${path}: vocabulary has no token with id ${i}`);
    }
    return new Vocab(tokens, path);
  }
}
