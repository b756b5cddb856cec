import { Command, InvalidArgumentError, Option } from 'commander';
import { engine } from '../engine/native';
import { formatBench, runBench, runProfiles } from '../bench/bench';
import { formatProfile } from '../bench/profile';

/** What `bench --profile` times without --cases: a training step at both lengths, and a batch inference. */
const PROFILE_CASES = ['train_8x128', 'train_8x512', 'infer_32x128'];
import { CASES } from '../bench/cases';
import { formatGpuBench, runGpuBench } from '../bench/gpu_bench';
import { intOption } from './common';

export function benchCommand(): Command {
  return new Command('bench')
    .description('time training and inference on distilbert-base shapes, ours beside PyTorch on the same shapes and threads (or GPU)')
    .option('--json', 'print {"cases": [{name, unit, ours, pct_of_gemm_peak, peers: {name: {value, ratio, ...}}}], "gemm_peaks", "gemm_peak_runs", "peers"}')
    .option('--threads <n>', 'CPU threads for us and the peers (default: all cores)', intOption(1))
    .addOption(new Option('--device <name>', 'cpu, or cuda: the GPU cases in each --precision beside PyTorch on the same GPU').choices(['cpu', 'cuda']).default('cpu'))
    .option('--cases <names>', `cpu: only these cases, comma-separated (${CASES.map((c) => c.name).join(', ')})`)
    .option('--precision <p>', 'cpu: fp32 (default) or bf16 (beside PyTorch\'s bf16 autocast); cuda: comma-separated fp32,tf32,bf16 (default all three)')
    .option('--profile', `cpu: where each train/infer case's step goes instead: ms and share by kernel family and phase, every kernel synchronized, and the products' GFLOP/s against the measured GEMM peak (default cases ${PROFILE_CASES.join(', ')})`)
    .action((o: { json?: boolean; threads?: number; device: string; precision?: string; cases?: string; profile?: boolean }) => {
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
      if (o.profile) {
        const profiles = runProfiles(threads, log, precision, CASES.filter((c) => (names ?? PROFILE_CASES).includes(c.name)));
        if (!profiles.length) throw new InvalidArgumentError('--profile times train and infer cases: --cases names none');
        process.stdout.write((o.json ? JSON.stringify({ threads, precision, profiles }) : profiles.map(formatProfile).join('\n\n')) + '\n');
        return;
      }
      const report = runBench(threads, log, precision, names ? CASES.filter((c) => names.includes(c.name)) : CASES);
      process.stdout.write((o.json ? JSON.stringify(report) : formatBench(report)) + '\n');
    });
}
