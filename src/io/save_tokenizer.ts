import { join } from 'node:path';
import { tokenizerFiles, TokenizerFileChoice } from '../tokenizer/files';
import { BertTokenizer } from '../tokenizer';
import { ensureWritableDir, writeFileAtomic } from './atomic';

/**
 * Writes a tokenizer's files into a folder (run folders, model folders, ONNX exports alike), each
 * atomically; returns the names written.
 */
export function saveTokenizer(dir: string, tok: BertTokenizer, choice: TokenizerFileChoice = {}): string[] {
  ensureWritableDir(dir);
  return tokenizerFiles(tok, choice).map(({ name, text }) => {
    writeFileAtomic(join(dir, name), [Buffer.from(text)]);
    return name;
  });
}
