import { Command, InvalidArgumentError, Option } from 'commander';
import { engine } from '../engine/native';
import { formatBench, runBench } from '../bench/bench';
import { CASES } from '../bench/cases';
import { formatGpuBench, runGpuBench } from '../bench/gpu_bench';
import { intOption } from './common';

export function benchCommand(): Command {
  return new Command('bench')
    .description('time training and inference on distilbert-base shapes, ours beside PyTorch on the same shapes and threads (or GPU)')
    .option('--json', 'print {"cases": [{name, unit, ours, pct_of_gemm_peak, peers: {name: {value, ratio, ...}}}], "gemm_peaks", "peers"}')
    .option('--threads <n>', 'CPU threads for us and the peers (default: all cores)', intOption(1))
    .addOption(new Option('--device <name>', 'cpu, or cuda: the GPU cases in each --precision beside PyTorch on the same GPU').choices(['cpu', 'cuda']).default('cpu'))
    .option('--cases <names>', `cpu: only these cases, comma-separated (${CASES.map((c) => c.name).join(', ')})`)
    .option('--precision <p>', 'cpu: fp32 (default) or bf16 (beside PyTorch\'s bf16 autocast); cuda: comma-separated fp32,tf32,bf16 (default all three)')
    .action((o: { json?: boolean; threads?: number; device: string; precision?: string; cases?: string }) => {
      const log = (s: string) => process.stderr.write(s + '\n');
      if (o.device === 'cuda') {
        const rows = runGpuBench((o.precision ?? 'fp32,tf32,bf16').split(','), log);
        process.stdout.write((o.json ? JSON.stringify({ device: 'cuda', cases: rows }) : formatGpuBench(rows)) + '\n');
        return;
      }
      const threads = o.threads ?? engine().getThreads();
      engine().setThreads(threads);
      const precision = o.precision ?? 'fp32';
      if (precision !== 'fp32' && precision !== 'bf16') throw new InvalidArgumentError(`--precision on the cpu is fp32 or bf16, not ${precision}`);
      const names = o.cases?.split(',');
      for (const n of names ?? []) if (!CASES.some((c) => c.name === n)) throw new InvalidArgumentError(`--cases: no case ${n} (cases: ${CASES.map((c) => c.name).join(', ')})`);
      const report = runBench(threads, log, precision, names ? CASES.filter((c) => names.includes(c.name)) : CASES);
      process.stdout.write((o.json ? JSON.stringify(report) : formatBench(report)) + '\n');
    });
}
