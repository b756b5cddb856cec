import { Command } from 'commander';
import { engine } from '../engine/native';
import { formatBench, runBench } from '../bench/bench';
import { intOption } from './common';

export function benchCommand(): Command {
  return new Command('bench')
    .description('time training and inference on distilbert-base shapes, ours beside PyTorch on the same shapes and threads')
    .option('--json', 'print {"cases": [{name, unit, ours, peer, peer_value, ratio, ...}], "sgemm_gflops"}')
    .option('--threads <n>', 'CPU threads for us and the peers (default: all cores)', intOption(1))
    .action((o: { json?: boolean; threads?: number }) => {
      const threads = o.threads ?? engine().getThreads();
      engine().setThreads(threads);
      const report = runBench(threads, (s) => process.stderr.write(s + '\n'));
      process.stdout.write((o.json ? JSON.stringify(report) : formatBench(report)) + '\n');
    });
}
