import { Command } from 'commander';
import { BertTokenizer } from '../tokenizer';
import { intOption, readStdin } from './common';

export function tokenizeCommand(): Command {
  return new Command('tokenize')
    .description('read JSON Lines {"text": ...} on stdin, write {"ids": [...]} per line, in order')
    .requiredOption('--vocab <path>', 'vocab.txt, tokenizer.json, or a model folder')
    .option('--max-length <n>', 'truncate to n tokens (special tokens included)', intOption(1))
    .option('--no-special-tokens', 'leave out [CLS] and [SEP]')
    .action((opts: { vocab: string; maxLength?: number; specialTokens: boolean }) => {
      const tok = BertTokenizer.load(opts.vocab);
      const out: string[] = [];
      readStdin().split(/\r?\n/).forEach((line, i) => {
        if (line.trim() === '') return;  // blank lines are skipped; errors keep the line's own number
        let row: unknown;
        try {
          row = JSON.parse(line);
        } catch {
          throw new Error(`stdin line ${i + 1}: not JSON`);
        }
        const text = (row as { text?: unknown })?.text;
        if (typeof text !== 'string') throw new Error(`stdin line ${i + 1}: needs a "text" string`);
        const { ids } = tok.encode(text, { maxLength: opts.maxLength, addSpecialTokens: opts.specialTokens });
        out.push(JSON.stringify({ ids }));
      });
      if (out.length) process.stdout.write(out.join('\n') + '\n');
    });
}
