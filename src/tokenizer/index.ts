export { BertTokenizer, padBatch } from './tokenizer';
export type { Batch, Encoding, EncodeOptions } from './tokenizer';
export { Vocab } from './vocab';
export type { Spans, TokenSpan, WordSpan } from './offsets';
