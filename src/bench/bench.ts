import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CASES, caseFlops, CaseSpec, CaseTiming, sgemmGflops } from './cases';

export interface CaseResult {
  name: string;
  unit: 'tokens/s' | 'ms' | 'texts/s';
  ours: number;
  peer: string;
  /** null when the peer is not installed. */
  peer_value: number | null;
  /** > 1 means we are better (for times too). */
  ratio: number | null;
  pct_of_sgemm_peak: number;
  ours_peak_rss_mb?: number;
  peer_peak_rss_mb?: number | null;
  peer_setting?: string;
}

export interface BenchReport {
  threads: number;
  sgemm_gflops: number;
  cases: CaseResult[];
  peers: Record<string, string>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const repsFor = (c: CaseSpec) => (c.kind === 'train' || c.seqLen >= 512 ? 3 : c.batch === 1 ? 21 : 5);
const PYTHON = '/usr/bin/python3';
const PEER_SCRIPT = join(__dirname, '..', '..', '..', 'bench', 'torch_peer.py');

function ours(c: CaseSpec, threads: number): CaseTiming {
  const out = execFileSync(process.execPath, [join(__dirname, 'worker.js'), c.name, String(repsFor(c)), String(threads)], { encoding: 'utf8' });
  return JSON.parse(out) as CaseTiming;
}

/** PyTorch's version, or why it is absent. */
export function torchVersion(): { version?: string; absent?: string } {
  if (!existsSync(PYTHON)) return { absent: `${PYTHON} not found` };
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? { version: r.stdout.trim() } : { absent: 'python3-torch not installed (apt-get install python3-torch)' };
}

const PTHREAD_OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread';

/**
 * PyTorch on the case with each thread setting; the best (lowest median) is kept. Its fastest
 * known setting is 1 torch thread with OpenBLAS's own pthreads doing the matrix products, which
 * needs the pthread build of OpenBLAS (libopenblas0-pthread): it is chosen explicitly when present.
 */
function torchPeer(c: CaseSpec, threads: number): { timing: CaseTiming; setting: string } {
  const pthread = existsSync(join(PTHREAD_OPENBLAS, 'libopenblas.so.0')) ? { LD_LIBRARY_PATH: PTHREAD_OPENBLAS } : {};
  const settings = [
    { name: `torch threads 1 + OPENBLAS_NUM_THREADS=${threads}${'LD_LIBRARY_PATH' in pthread ? ' (pthread OpenBLAS)' : ''}`, env: { TORCH_THREADS: '1', OPENBLAS_NUM_THREADS: String(threads), ...pthread } },
    { name: `torch threads ${threads}`, env: { TORCH_THREADS: String(threads) } },
  ];
  let best: { timing: CaseTiming; setting: string } | undefined;
  for (const s of settings) {
    const out = execFileSync(PYTHON, [PEER_SCRIPT, c.name, String(repsFor(c))], { encoding: 'utf8', env: { ...process.env, ...s.env } });
    const j = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number[]; peak_rss_bytes: number };
    const timing = { seconds: j.seconds, peakRssBytes: j.peak_rss_bytes };
    if (!best || median(timing.seconds) < median(best.timing.seconds)) best = { timing, setting: s.name };
  }
  return best!;
}

function value(c: CaseSpec, seconds: number): { unit: CaseResult['unit']; v: number; better: (a: number, b: number) => number } {
  if (c.kind === 'train') return { unit: 'tokens/s', v: (c.batch * c.seqLen) / seconds, better: (a, b) => a / b };
  if (c.batch === 1) return { unit: 'ms', v: seconds * 1000, better: (a, b) => b / a };
  return { unit: 'texts/s', v: c.batch / seconds, better: (a, b) => a / b };
}

export function runBench(threads: number, log: (s: string) => void): BenchReport {
  const sgemm = sgemmGflops();
  const torch = torchVersion();
  log(`sgemm ${sgemm.toFixed(1)} GFLOP/s; PyTorch ${torch.version ?? `absent: ${torch.absent}`}; ONNX Runtime absent: no ONNX export yet`);
  const cases: CaseResult[] = [];
  for (const c of CASES) {
    log(`${c.name}: ours...`);
    const o = ours(c, threads);
    const om = median(o.seconds);
    const ov = value(c, om);
    const r: CaseResult = {
      name: c.name, unit: ov.unit, ours: ov.v, peer: 'pytorch', peer_value: null, ratio: null,
      pct_of_sgemm_peak: (100 * caseFlops(c)) / om / 1e9 / sgemm,
    };
    r.ours_peak_rss_mb = o.peakRssBytes / 2 ** 20;
    if (torch.version) {
      log(`${c.name}: pytorch...`);
      const p = torchPeer(c, threads);
      r.peer_value = value(c, median(p.timing.seconds)).v;
      r.ratio = ov.better(r.ours, r.peer_value);
      r.peer_setting = p.setting;
      r.peer_peak_rss_mb = p.timing.peakRssBytes / 2 ** 20;
    }
    cases.push(r);
  }
  return { threads, sgemm_gflops: sgemm, cases, peers: { pytorch: torch.version ?? `absent (${torch.absent})`, onnxruntime: 'absent (no ONNX export yet)' } };
}

export function formatBench(r: BenchReport): string {
  const rows = [['case', 'unit', 'ours', 'pytorch', 'ratio', '% sgemm peak', 'peak RSS MB (ours / pytorch)']];
  for (const c of r.cases) {
    rows.push([
      c.name, c.unit, c.ours.toFixed(c.unit === 'ms' ? 1 : 1), c.peer_value === null ? 'absent' : c.peer_value.toFixed(1),
      c.ratio === null ? '-' : `${c.ratio.toFixed(2)}x`, c.pct_of_sgemm_peak.toFixed(0) + '%',
      c.ours_peak_rss_mb === undefined ? '' : `${c.ours_peak_rss_mb.toFixed(0)} / ${c.peer_peak_rss_mb?.toFixed(0) ?? 'absent'}`,
    ]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(w[i]) : cell.padStart(w[i]))).join('  '));
  lines.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  return `threads ${r.threads}, sgemm ${r.sgemm_gflops.toFixed(1)} GFLOP/s; ratio > 1: ours is better\n${lines.join('\n')}\npeers: pytorch ${r.peers.pytorch}; onnxruntime ${r.peers.onnxruntime}`;
}
