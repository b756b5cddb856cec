import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cardEpochMissing } from './card_epoch';
import { CASES, caseFlops, CaseSpec, CaseTiming, GemmPeaks, gemmPeaks, higherPeaks } from './cases';
import { ProfileResult } from './profile';

/** A peer's figure on one case, in the case's unit. */
export interface PeerResult {
  value: number;
  /** > 1 means we are better (for times too). */
  ratio: number;
  peak_rss_mb: number;
  setting: string;
}

export interface CaseResult {
  name: string;
  unit: 'tokens/s' | 'ms' | 'texts/s' | 'min/epoch';
  ours: number;
  /** Of the measured peak of the run's precision (gemm_peaks.fp32 or .bf16); null for the card epoch (real lengths) and explanations. */
  pct_of_gemm_peak: number | null;
  ours_peak_rss_mb: number;
  /** By peer name; a peer that does not run this case (or is not installed) is absent. */
  peers: Record<string, PeerResult>;
}

export interface BenchReport {
  threads: number;
  /** Our matrix products' precision (fp32, or bf16 beside PyTorch's bf16 autocast). */
  precision: string;
  /** Measured square-product peaks, GFLOP/s: ours in fp32 and bf16 (oneDNN), and OpenBLAS's; each the higher of gemm_peak_runs. */
  gemm_peaks: GemmPeaks;
  /** The peaks measured before the cases and after them. */
  gemm_peak_runs: [GemmPeaks, GemmPeaks];
  cases: CaseResult[];
  /** Each peer's version, or why it is absent. */
  peers: Record<string, string>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const repsFor = (c: CaseSpec) => (c.kind === 'card_epoch' ? 2 : c.kind === 'train' || c.seqLen >= 512 || c.method === 'ig' ? 3 : c.batch === 1 ? 21 : 5);
const PYTHON = '/usr/bin/python3';
const PEER_SCRIPT = join(__dirname, '..', '..', '..', 'bench', 'torch_peer.py');

/** Runs a script that prints a CaseTiming as its last line. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): CaseTiming {
  const out = execFileSync(cmd, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  const j = JSON.parse(out.trim().split('\n').pop()!) as CaseTiming & { peak_rss_bytes?: number };
  return { seconds: j.seconds, peakRssBytes: j.peakRssBytes ?? j.peak_rss_bytes! };
}

/** PyTorch's version, or why it is absent. */
export function torchVersion(): { version?: string; absent?: string } {
  if (!existsSync(PYTHON)) return { absent: `${PYTHON} not found` };
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? { version: r.stdout.trim() } : { absent: 'python3-torch not installed (apt-get install python3-torch)' };
}

/** A package's version when it can be loaded from here, or why not. */
function npmPeerVersion(pkg: string): { version?: string; absent?: string } {
  let dir: string;
  try {
    dir = dirname(require.resolve(pkg));
  } catch {
    return { absent: `${pkg} not installed (npm install ${pkg})` };
  }
  // Not every package exports its package.json: walk up from its entry point to find it.
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const meta = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
      if (meta.name === pkg) return { version: meta.version };
    }
  }
  return { absent: `${pkg}: no package.json found` };
}

/** 16,962 card-split training posts in batches of 80. */
const CARD_STEPS_PER_EPOCH = 212;

const PTHREAD_OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread';

/**
 * PyTorch on the case with each thread setting; the best (lowest median) is kept. Its fastest
 * known setting is 1 torch thread with OpenBLAS's own pthreads doing the matrix products, which
 * needs the pthread build of OpenBLAS (libopenblas0-pthread): it is chosen explicitly when present.
 */
function torchPeer(c: CaseSpec, threads: number, precision: string): { timing: CaseTiming; setting: string } {
  const pthread = existsSync(join(PTHREAD_OPENBLAS, 'libopenblas.so.0')) ? { LD_LIBRARY_PATH: PTHREAD_OPENBLAS } : {};
  const autocast = precision === 'bf16' ? { TORCH_AUTOCAST: 'bf16' } : {};
  const settings = [
    { name: `torch threads 1 + OPENBLAS_NUM_THREADS=${threads}${'LD_LIBRARY_PATH' in pthread ? ' (pthread OpenBLAS)' : ''}`, env: { TORCH_THREADS: '1', OPENBLAS_NUM_THREADS: String(threads), ...pthread } },
    { name: `torch threads ${threads}`, env: { TORCH_THREADS: String(threads) } },
  ];
  let best: { timing: CaseTiming; setting: string } | undefined;
  for (const s of settings) {
    const timing = timed(PYTHON, [PEER_SCRIPT, c.name, String(repsFor(c))], { ...process.env, ...s.env, ...autocast });
    const setting = precision === 'bf16' ? `${s.name}, autocast bf16` : s.name;
    if (!best || median(timing.seconds) < median(best.timing.seconds)) best = { timing, setting };
  }
  return best!;
}

function value(c: CaseSpec, seconds: number): { unit: CaseResult['unit']; v: number; better: (a: number, b: number) => number } {
  if (c.kind === 'card_epoch') return { unit: 'min/epoch', v: (seconds * CARD_STEPS_PER_EPOCH) / 60, better: (a, b) => b / a };
  if (c.kind === 'train') return { unit: 'tokens/s', v: (c.batch * c.seqLen) / seconds, better: (a, b) => a / b };
  if (c.batch === 1) return { unit: 'ms', v: seconds * 1000, better: (a, b) => b / a };
  return { unit: 'texts/s', v: c.batch / seconds, better: (a, b) => a / b };
}

/**
 * Every case, ours then each peer that runs it, each in its own process: PyTorch (Debian's
 * python3-torch) on the model cases, onnxruntime-node on our ONNX export of the same weights for
 * inference, transformers.js's pipeline on that export for one text end to end. With precision
 * bf16, ours runs bf16 products and PyTorch runs under bf16 autocast; the ONNX peers (fp32) sit out.
 */
export function runBench(threads: number, log: (s: string) => void, precision = 'fp32', cases: CaseSpec[] = CASES): BenchReport {
  const before = gemmPeaks();
  if (precision === 'bf16' && before.bf16 === null) throw new Error('--precision bf16: this CPU has no native bf16 matrix products');
  const versions = { pytorch: torchVersion(), onnxruntime: npmPeerVersion('onnxruntime-node'), 'transformers.js': npmPeerVersion('@huggingface/transformers') };
  log(`GEMM peaks (GFLOP/s): fp32 ${before.fp32.toFixed(1)}, bf16 ${before.bf16?.toFixed(1) ?? 'n/a'}, OpenBLAS ${before.openblas.toFixed(1)}; ${Object.entries(versions).map(([k, v]) => `${k} ${v.version ?? `absent: ${v.absent}`}`).join('; ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'bert-20news-bench-'));
  try {
    log('writing the base model folder and its ONNX export...');
    const { modelDir, exportDir } = JSON.parse(execFileSync(process.execPath, [join(__dirname, 'write_model.js'), dir], { encoding: 'utf8' })) as { modelDir: string; exportDir: string };
    const ONNX_PEER = join(__dirname, 'onnx_peer.js');
    const peersOf = (c: CaseSpec): Record<string, () => { timing: CaseTiming; setting: string }> => {
      const reps = String(repsFor(c));
      const onnx = (peer: string, setting: string) => () => ({ timing: timed(process.execPath, [ONNX_PEER, peer, c.name, reps, String(threads), exportDir]), setting });
      const out: Record<string, () => { timing: CaseTiming; setting: string }> = {};
      if ((c.kind === 'train' || c.kind === 'infer') && versions.pytorch.version) out.pytorch = () => torchPeer(c, threads, precision);
      if (precision !== 'fp32') return out;
      if (c.kind === 'infer' && !c.arch && versions.onnxruntime.version) out.onnxruntime = onnx('onnxruntime', `intra-op threads ${threads}, all graph optimizations`);
      if (c.kind === 'text' && versions['transformers.js'].version) out['transformers.js'] = onnx('transformers.js', `pipeline('text-classification'), fp32, intra-op threads ${threads}`);
      // An explanation's cost against our own prediction of the same text: the ratio is prediction / explanation.
      if (c.kind === 'explain') out['our prediction'] = () => ({ timing: timed(process.execPath, [join(__dirname, 'worker.js'), 'text_1x128', reps, String(threads), 'cpu', precision, modelDir]), setting: 'text_1x128 in the same run' });
      return out;
    };
    const results: CaseResult[] = [];
    const flopRates: (number | null)[] = [];  // each result's FLOP/s, for its share of the peak
    for (const c of cases) {
      const missing = c.kind === 'card_epoch' ? cardEpochMissing() : undefined;
      if (missing) {
        log(`${c.name}: skipped, ${missing}`);
        continue;
      }
      log(`${c.name}: ours...`);
      const o = timed(process.execPath, [join(__dirname, 'worker.js'), c.name, String(repsFor(c)), String(threads), 'cpu', precision, modelDir]);
      const ov = value(c, median(o.seconds));
      const r: CaseResult = {
        name: c.name, unit: ov.unit, ours: ov.v, pct_of_gemm_peak: null, ours_peak_rss_mb: o.peakRssBytes / 2 ** 20, peers: {},
      };
      flopRates.push(c.kind === 'card_epoch' || c.kind === 'explain' ? null : caseFlops(c) / median(o.seconds));
      for (const [peer, run] of Object.entries(peersOf(c))) {
        log(`${c.name}: ${peer}...`);
        const p = run();
        const pv = value(c, median(p.timing.seconds)).v;
        r.peers[peer] = { value: pv, ratio: ov.better(r.ours, pv), peak_rss_mb: p.timing.peakRssBytes / 2 ** 20, setting: p.setting };
      }
      results.push(r);
    }
    log('measuring the GEMM peaks again...');
    const after = gemmPeaks();
    const peaks = higherPeaks(before, after);
    const peak = (precision === 'bf16' ? peaks.bf16 : peaks.fp32)!;
    results.forEach((r, i) => (r.pct_of_gemm_peak = flopRates[i] === null ? null : (100 * flopRates[i]!) / 1e9 / peak));
    const peers = Object.fromEntries(Object.entries(versions).map(([k, v]) => [k, v.version ?? `absent (${v.absent})`]));
    return { threads, precision, gemm_peaks: peaks, gemm_peak_runs: [before, after], cases: results, peers };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `bench --profile`: each train or infer case's step in a process of its own, every kernel timed
 * (profile.ts); no peers. The GEMM peak of the precision is measured before the cases and after
 * them in this run, the higher kept (as runBench does).
 */
export function runProfiles(threads: number, log: (s: string) => void, precision: string, cases: CaseSpec[]): ProfileResult[] {
  const chosen = cases.filter((x) => x.kind === 'train' || x.kind === 'infer');
  if (!chosen.length) return [];
  log('measuring the GEMM peak...');
  const before = gemmPeaks();
  const out: ProfileResult[] = [];
  for (const c of chosen) {
    log(`${c.name}: profiling...`);
    const text = execFileSync(process.execPath, [join(__dirname, 'worker.js'), c.name, String(repsFor(c)), String(threads), 'cpu', precision, '', 'profile'], { encoding: 'utf8' });
    out.push(JSON.parse(text.trim().split('\n').pop()!) as ProfileResult);
  }
  log('measuring the GEMM peak again...');
  const peaks = higherPeaks(before, gemmPeaks());
  const gemmPeak = (precision === 'bf16' ? peaks.bf16 : peaks.fp32) ?? undefined;
  return out.map((r) => ({ ...r, gemmPeak }));
}

export function formatBench(r: BenchReport): string {
  const names = Object.keys(r.peers);
  const rows = [['case', 'unit', 'ours', ...names.flatMap((n) => [n, 'ratio']), `% ${r.precision} peak`, `peak RSS MB (ours / ${names.join(' / ')})`]];
  for (const c of r.cases) {
    const cell = (n: string) => (c.peers[n] ? [c.peers[n].value.toFixed(1), `${c.peers[n].ratio.toFixed(2)}x`] : ['-', '-']);
    rows.push([
      c.name, c.unit, c.ours.toFixed(1), ...names.flatMap(cell), c.pct_of_gemm_peak === null ? '-' : c.pct_of_gemm_peak.toFixed(0) + '%',
      [c.ours_peak_rss_mb, ...names.map((n) => c.peers[n]?.peak_rss_mb)].map((v) => (v === undefined ? '-' : v.toFixed(0))).join(' / '),
    ]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(w[i]) : cell.padStart(w[i]))).join('  '));
  lines.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  const peerLine = names.map((n) => `${n} ${r.peers[n]}`).join('; ');
  const p = r.gemm_peaks;
  return `threads ${r.threads}, ${r.precision}; GEMM peaks (the higher of before and after the cases) fp32 ${p.fp32.toFixed(1)}, bf16 ${p.bf16?.toFixed(1) ?? 'n/a'}, OpenBLAS ${p.openblas.toFixed(1)} GFLOP/s; ratio > 1: ours is better\n${lines.join('\n')}\npeers: ${peerLine}`;
}
