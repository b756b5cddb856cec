/**
 * Runs one benchmark case in its own process (so its peak RSS is its own) and prints JSON; with
 * `profile` as the 7th argument, its per-kernel profile (profile.ts) instead of its timing.
 */
import { engine } from '../engine/native';
import { cardEpochSteps } from './card_epoch';
import { CASES, GPU_CASES, runCase } from './cases';
import { profileCase } from './profile';

const [name, reps, threads, device = 'cpu', precision = 'fp32', modelDir, mode] = process.argv.slice(2);
const spec = [...CASES, ...GPU_CASES].find((c) => c.name === name);
if (!spec) {
  process.stderr.write(`unknown case ${name}\n`);
  process.exit(1);
}
engine().setThreads(Number(threads));
if (mode === 'profile') {
  process.stdout.write(JSON.stringify(profileCase(spec, Number(reps), { device, precision })) + '\n');
} else if (spec.kind === 'card_epoch') {
  cardEpochSteps(Number(reps), { device, precision }).then((t) => process.stdout.write(JSON.stringify(t) + '\n'));
} else {
  process.stdout.write(JSON.stringify(runCase(spec, Number(reps), { device, precision }, modelDir)) + '\n');
}
