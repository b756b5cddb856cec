import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { engine } from '../engine/native';
import { parseConfig } from '../model/config';
import { CaseSpec, CaseTiming, GPU_CASES } from './cases';

/** One row of `bench --device cuda`: ours and PyTorch on the same GPU in the same run. */
export interface GpuCaseResult {
  name: string;
  precision: string;
  unit: 'tokens/s' | 'ms' | 'texts/s';
  ours: number;
  peer_value: number | null;
  /** > 1: ours is better (for milliseconds too). */
  ratio: number | null;
}

const PYTHON = '/usr/bin/python3';
const PEER = join(__dirname, '..', '..', '..', 'bench', 'torch_cuda_peer.py');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function value(c: CaseSpec, seconds: number): { unit: GpuCaseResult['unit']; v: number } {
  if (c.kind === 'train') return { unit: 'tokens/s', v: (c.batch * c.seqLen) / seconds };
  return c.batch === 1 ? { unit: 'ms', v: seconds * 1000 } : { unit: 'texts/s', v: c.batch / seconds };
}

/** PyTorch's figures for one precision (bench/torch_cuda_peer.py), by case name; empty when it cannot run. */
function peer(precision: string, log: (s: string) => void): Map<string, number> {
  const r = spawnSync(PYTHON, [PEER, '--cases', GPU_CASES.map((c) => c.name).join(','), '--precisions', precision], { encoding: 'utf8' });
  if (r.status !== 0) {
    log(`PyTorch peer absent (${(r.stderr ?? '').trim().split('\n').pop() ?? 'python3 failed'})`);
    return new Map();
  }
  return new Map(r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => {
    const j = JSON.parse(l) as { case: string; value: number };
    return [j.case, j.value];
  }));
}

/** The GPU cases in each precision: ours (each case in its own process) beside PyTorch. */
export function runGpuBench(precisions: string[], log: (s: string) => void): GpuCaseResult[] {
  // A one-parameter model on the device first: a missing backend, driver or GPU is one clear error.
  const probe = parseConfig({ vocab_size: 2, max_position_embeddings: 2, n_layers: 1, n_heads: 1, dim: 1, hidden_dim: 1 });
  for (const precision of precisions) new (engine().Model)(probe, 'cuda', precision);
  const rows: GpuCaseResult[] = [];
  for (const precision of precisions) {
    const theirs = peer(precision, log);
    for (const c of GPU_CASES) {
      log(`${c.name} ${precision}: ours...`);
      const reps = c.batch === 1 ? 50 : 10;
      const out = execFileSync(process.execPath, [join(__dirname, 'worker.js'), c.name, String(reps), '1', 'cuda', precision], { encoding: 'utf8' });
      const t = JSON.parse(out) as CaseTiming;
      const o = value(c, median(t.seconds));
      const p = theirs.get(c.name) ?? null;
      const ratio = p === null ? null : o.unit === 'ms' ? p / o.v : o.v / p;
      rows.push({ name: c.name, precision, unit: o.unit, ours: o.v, peer_value: p, ratio });
    }
  }
  return rows;
}

export function formatGpuBench(rows: GpuCaseResult[]): string {
  const lines = ['case          precision  unit       ours      pytorch   ratio'];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(13)} ${r.precision.padEnd(10)} ${r.unit.padEnd(9)} ${r.ours.toFixed(1).padStart(9)} ${(r.peer_value?.toFixed(1) ?? 'absent').padStart(9)} ${r.ratio === null ? '-' : r.ratio.toFixed(2) + 'x'}`);
  }
  return lines.join('\n') + '\nratio > 1: ours is better';
}
