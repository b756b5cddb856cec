import { BertTokenizer } from './tokenizer';

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/**
 * The tokenizer as HF tokenizers' tokenizer.json describes BertTokenizerFast: BertNormalizer,
 * BertPreTokenizer, WordPiece (## continuation, 100-char words -> [UNK]), [CLS] x [SEP]
 * post-processing. transformers.js and every HF tokenizers binding read it.
 */
export function tokenizerJson(tok: BertTokenizer): Record<string, unknown> {
  const { lowercase, stripAccents } = tok.normalizerOptions;
  const vocab: Record<string, number> = {};
  for (const [token, id] of tok.vocab.tokenToId) vocab[token] = id;
  const special = (t: string) => ({ id: t, ids: [tok.vocab.id(t)], tokens: [t] });
  const piece = (kind: 'SpecialToken' | 'Sequence', id: string, typeId: number) => ({ [kind]: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.filter((t) => tok.vocab.tokenToId.has(t)).map((t) => ({
      id: tok.vocab.id(t),
      content: t,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: stripAccents, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [piece('SpecialToken', '[CLS]', 0), piece('Sequence', 'A', 0), piece('SpecialToken', '[SEP]', 0)],
      pair: [piece('SpecialToken', '[CLS]', 0), piece('Sequence', 'A', 0), piece('SpecialToken', '[SEP]', 0), piece('Sequence', 'B', 1), piece('SpecialToken', '[SEP]', 1)],
      special_tokens: { '[CLS]': special('[CLS]'), '[SEP]': special('[SEP]') },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/** tokenizer_config.json as transformers writes it for DistilBertTokenizer. */
export function tokenizerConfigJson(tok: BertTokenizer, tokenizerClass: TokenizerFileChoice['tokenizerClass'] = 'DistilBertTokenizer'): Record<string, unknown> {
  const { lowercase, stripAccents } = tok.normalizerOptions;
  return {
    tokenizer_class: tokenizerClass,
    do_lower_case: lowercase,
    strip_accents: stripAccents,
    tokenize_chinese_chars: true,
    model_max_length: tok.modelMaxLength,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    clean_up_tokenization_spaces: true,
  };
}

/** Which files of a tokenizer folder to write: vocab.txt and tokenizer_config.json always. */
export interface TokenizerFileChoice {
  /** Also tokenizer.json (transformers.js and every HF tokenizers binding read it). */
  tokenizerJson?: boolean;
  /** Leave vocab.txt out (a folder that transformers.js alone reads needs tokenizer.json only). */
  noVocabTxt?: boolean;
  /** The model's tokenizer class (default DistilBertTokenizer); BertTokenizer also gives token_type_ids for pairs. */
  tokenizerClass?: 'DistilBertTokenizer' | 'BertTokenizer';
}

/** The files of a tokenizer folder, by name: the one place their contents are made. */
export function tokenizerFiles(tok: BertTokenizer, choice: TokenizerFileChoice = {}): { name: string; text: string }[] {
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  return [
    ...(choice.noVocabTxt ? [] : [{ name: 'vocab.txt', text: tok.vocab.idToToken.join('\n') + '\n' }]),
    ...(choice.tokenizerJson ? [{ name: 'tokenizer.json', text: json(tokenizerJson(tok)) }] : []),
    { name: 'tokenizer_config.json', text: json(tokenizerConfigJson(tok, choice.tokenizerClass)) },
  ];
}
