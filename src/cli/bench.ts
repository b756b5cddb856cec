import { Command, Option } from 'commander';
import { engine } from '../engine/native';
import { formatBench, runBench } from '../bench/bench';
import { formatGpuBench, runGpuBench } from '../bench/gpu_bench';
import { intOption } from './common';

export function benchCommand(): Command {
  return new Command('bench')
    .description('time training and inference on distilbert-base shapes, ours beside PyTorch on the same shapes and threads (or GPU)')
    .option('--json', 'print {"cases": [{name, unit, ours, peer, peer_value, ratio, ...}], "sgemm_gflops"}')
    .option('--threads <n>', 'CPU threads for us and the peers (default: all cores)', intOption(1))
    .addOption(new Option('--device <name>', 'cpu, or cuda: the GPU cases in each --precision beside PyTorch on the same GPU').choices(['cpu', 'cuda']).default('cpu'))
    .option('--precision <list>', 'with --device cuda: comma-separated fp32,tf32,bf16', 'fp32,tf32,bf16')
    .action((o: { json?: boolean; threads?: number; device: string; precision: string }) => {
      const log = (s: string) => process.stderr.write(s + '\n');
      if (o.device === 'cuda') {
        const rows = runGpuBench(o.precision.split(','), log);
        process.stdout.write((o.json ? JSON.stringify({ device: 'cuda', cases: rows }) : formatGpuBench(rows)) + '\n');
        return;
      }
      const threads = o.threads ?? engine().getThreads();
      engine().setThreads(threads);
      const report = runBench(threads, log);
      process.stdout.write((o.json ? JSON.stringify(report) : formatBench(report)) + '\n');
    });
}
