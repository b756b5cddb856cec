#!/usr/bin/env node
import { Command } from 'commander';
import { baselineCommand } from './baseline';
import { benchCommand } from './bench';
import { evaluateCommand } from './evaluate';
import { exportCommand } from './export';
import { faithfulnessCommand } from './faithfulness';
import { logitsCommand } from './logits';
import { predictCommand } from './predict';
import { pretrainCommand } from './pretrain';
import { serveCommand } from './serve';
import { tokenizeCommand } from './tokenize';
import { trainCommand } from './train';

const program = new Command('bert-20news')
  .description('DistilBERT text classifiers (20 Newsgroups): tokenize, train, predict — a native CPU engine, no Python')
  .version(require('../../../package.json').version)
  .addCommand(tokenizeCommand())
  .addCommand(logitsCommand())
  .addCommand(predictCommand())
  .addCommand(pretrainCommand())
  .addCommand(trainCommand())
  .addCommand(evaluateCommand())
  .addCommand(baselineCommand())
  .addCommand(serveCommand())
  .addCommand(exportCommand())
  .addCommand(benchCommand())
  .addCommand(faithfulnessCommand());

// A closed pipe (`... | head -1`) ends the command quietly with exit code 0, as Unix tools do;
// a training run only stops printing: its model is what it is for.
let running = '';
program.hook('preAction', (_program, action) => {
  running = action.name();
});
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if ((e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') && (running === 'train' || running === 'pretrain')) return;
  if (e.code === 'EPIPE') process.exit(0);
  process.stderr.write(`bert-20news: error: stdout: ${e.message}\n`);
  process.exit(1);
});

// Every failure is one line on stderr and exit code 1.
program.parseAsync(process.argv).catch((e: Error) => {
  process.stderr.write(`bert-20news: error: ${e.message}\n`);
  process.exit(1);
});
