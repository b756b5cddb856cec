import { EncoderClassifier } from '../model/encoder_classifier';
import { DeviceChoice } from '../model/model';
import { KerasAdam } from '../train/adam';
import { PolynomialDecay } from '../train/schedule';
import { baseModel, caseTokens, CaseSpec, layersOf, productFlops } from './cases';

/** The kernels of a model step by family: what `bench --profile` sums. */
const FAMILIES: Record<string, string> = {
  linear_forward: 'linear layers', linear_backward: 'linear layers', linear_act_forward: 'linear layers', ffn_forward: 'linear layers',
  // Training's FFN as one call (where a backend fuses its activation into the products' operands, as the CPU's bf16 does).
  ffn_train_forward: 'linear layers', ffn_backward: 'linear layers',
  attention_forward: 'attention', attention_backward: 'attention',
  layernorm_forward: 'layernorm', layernorm_backward: 'layernorm', add_layernorm_forward: 'layernorm',
  activation_forward: 'activation', activation_backward: 'activation',
  dropout: 'dropout',
  embedding_forward: 'embedding', embedding_backward: 'embedding', gather_rows: 'embedding', scatter_rows: 'embedding',
  adam: 'optimizer', adamw: 'optimizer', zero_rows: 'optimizer', sum_squares: 'optimizer', scale: 'optimizer',
  add: 'residual adds', fill_zero: 'zeroing', copy_rows: '[CLS] rows', cross_entropy: 'loss', upload: 'transfers', download: 'transfers',
};

/** The matrix products: the linear layers' and attention's (its scores, softmax, mask, dropout and product by v are one kernel). */
export const PRODUCT_FAMILIES = ['linear layers', 'attention'];

export type Phase = 'forward' | 'backward' | 'optimizer';

export interface ProfileResult {
  case: string;
  precision: string;
  /** Milliseconds per step by phase, then family (each kernel call synchronized). */
  ms: Record<Phase, Record<string, number>>;
  totalMs: number;
  /** Share of the step outside the matrix products (the linear layers' and attention's). */
  outsideProducts: number;
  /**
   * GFLOP/s of each product family by phase: its FLOPs (forwardFlops' count, split; backward's
   * twice forward's, the products for the gradients of both operands) over its kernels' time, which
   * includes what runs inside them (operand conversions, the activation, softmax and dropout).
   */
  gflops: Partial<Record<Phase, Record<string, number>>>;
  /** The measured GEMM peak of the run's precision (GFLOP/s, gemmPeaks: the higher of before and after the cases), where the caller took it. */
  gemmPeak?: number;
}

/**
 * Steps run before the profiled ones: the first makes the workspaces and the products' primitives;
 * in inference the second makes the copies of the weights in the products' own layout (the CPU
 * backend makes them when a weight is read again unchanged: a one-time pass over every weight that,
 * counted in the mean, put infer_1x128 fp32 at 58.5 ms a step where its steps take 34-37).
 */
const WARM_UP_STEPS = 2;

/**
 * One case's step (a training step: forward, loss + backward, Keras Adam; inference: a forward),
 * every kernel timed (synchronized after each call), averaged over `reps` steps after WARM_UP_STEPS.
 */
export function profileCase(c: CaseSpec, reps: number, device: DeviceChoice = {}): ProfileResult {
  if (c.kind !== 'train' && c.kind !== 'infer') throw new Error(`case ${c.name}: only train and infer cases are profiled`);
  const { config, params } = baseModel(c.arch);
  const model = new EncoderClassifier(config, params, { ...device, profile: true });
  const { batch: B, seqLen: T } = c;
  const ids = caseTokens(c);
  const mask = new Int32Array(B * T).fill(1);
  const labels = Int32Array.from({ length: B }, (_, i) => i % 20);
  const adam = new KerasAdam(new PolynomialDecay(2e-5, 1000));
  const ms: ProfileResult['ms'] = { forward: {}, backward: {}, optimizer: {} };
  const take = (phase: Phase, keep: boolean) => {
    for (const [kernel, t] of Object.entries(model.takeProfile())) {
      const family = FAMILIES[kernel] ?? kernel;
      if (keep) ms[phase][family] = (ms[phase][family] ?? 0) + t.ms / reps;
    }
  };
  for (let step = 0; step < WARM_UP_STEPS + reps; step++) {
    const keep = step >= WARM_UP_STEPS;
    model.takeProfile();
    if (c.kind === 'infer') {
      model.forward(ids, mask, B, T, { grad: false });
      take('forward', keep);
      continue;
    }
    model.forward(ids, mask, B, T, { train: true, seed: step });
    take('forward', keep);
    model.loss(labels);
    model.backward();
    take('backward', keep);
    adam.update(model);
    take('optimizer', keep);
  }
  const all = Object.values(ms).flatMap((p) => Object.entries(p));
  const totalMs = all.reduce((s, [, v]) => s + v, 0);
  const products = all.filter(([f]) => PRODUCT_FAMILIES.includes(f)).reduce((s, [, v]) => s + v, 0);
  const flops = productFlops(B, T, layersOf(c));
  const rate = (phase: Phase, times: number) => ({
    'linear layers': (times * flops.linear) / (ms[phase]['linear layers'] * 1e6),
    attention: (times * flops.attention) / (ms[phase].attention * 1e6),
  });
  const gflops = c.kind === 'train' ? { forward: rate('forward', 1), backward: rate('backward', 2) } : { forward: rate('forward', 1) };
  return { case: c.name, precision: device.precision ?? 'fp32', ms, totalMs, outsideProducts: (totalMs - products) / totalMs, gflops };
}

/** A table per case: milliseconds and share of the step by family and phase. */
export function formatProfile(r: ProfileResult): string {
  const families = [...new Set(Object.values(r.ms).flatMap((p) => Object.keys(p)))];
  const sum = (f: string) => Object.values(r.ms).reduce((s, p) => s + (p[f] ?? 0), 0);
  families.sort((a, b) => sum(b) - sum(a));
  const phases = (Object.keys(r.ms) as Phase[]).filter((p) => Object.keys(r.ms[p]).length);
  const rows = [['family', ...phases.map((p) => `${p} ms`), 'total ms', 'share']];
  for (const f of families) rows.push([f, ...phases.map((p) => (r.ms[p][f] ?? 0).toFixed(1)), sum(f).toFixed(1), `${((100 * sum(f)) / r.totalMs).toFixed(1)}%`]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(w[i]) : cell.padStart(w[i]))).join('  '));
  const rates = (Object.entries(r.gflops) as [Phase, Record<string, number>][]).flatMap(([phase, families]) =>
    Object.entries(families).map(([f, g]) => `${f} ${phase} ${g.toFixed(0)}${r.gemmPeak ? ` (${((100 * g) / r.gemmPeak).toFixed(0)}%)` : ''}`));
  const peak = r.gemmPeak ? `, share of the measured ${r.precision} GEMM peak (${r.gemmPeak.toFixed(0)})` : '';
  return `${r.case} ${r.precision}: ${r.totalMs.toFixed(1)} ms a step with every kernel synchronized; outside the matrix products (linear layers, attention): ${(100 * r.outsideProducts).toFixed(1)}%\n${lines.join('\n')}\nproducts, GFLOP/s${peak}: ${rates.join('; ')}`;
}
