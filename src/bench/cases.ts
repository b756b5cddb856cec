import { join } from 'node:path';
import { Random } from '../data/random';
import { engine } from '../engine/native';
import { exportOnnx } from '../export/export_onnx';
import { ModelConfig, parseConfig } from '../model/config';
import { saveModelDir } from '../model/model_dir';
import { ParamStore } from '../io/params';
import { Classifier } from '../pipeline/classifier';
import { explain, ExplainMethod } from '../pipeline/explain';
import { EncoderClassifier } from '../model/encoder_classifier';
import { DeviceChoice } from '../model/model';
import { BertTokenizer, Vocab } from '../tokenizer';
import { KerasAdam } from '../train/adam';
import { initParams } from '../train/init';
import { PolynomialDecay } from '../train/schedule';

/**
 * One benchmark case: distilbert-base shapes (bert-base's with `arch` bert), 20 labels, random weights and token ids. `text`:
 * one text end to end (tokenize, forward, softmax) through a model folder, as a user calls it;
 * `explain`: that text's word attributions by `method` (integrated gradients with `steps`).
 * `card_epoch`: the card recipe's epoch on the real data, estimated from a few steps (card_epoch.ts).
 */
export interface CaseSpec {
  name: string;
  kind: 'train' | 'infer' | 'text' | 'explain' | 'card_epoch';
  batch: number;
  seqLen: number;
  method?: ExplainMethod;
  steps?: number;
  /** bert: bert-base (12 layers, dim 768, token types, tanh pooler); default distilbert-base. */
  arch?: 'bert';
}

export const CASES: CaseSpec[] = [
  { name: 'train_8x128', kind: 'train', batch: 8, seqLen: 128 },
  { name: 'train_8x512', kind: 'train', batch: 8, seqLen: 512 },
  { name: 'infer_1x128', kind: 'infer', batch: 1, seqLen: 128 },
  { name: 'infer_32x128', kind: 'infer', batch: 32, seqLen: 128 },
  { name: 'infer_32x512', kind: 'infer', batch: 32, seqLen: 512 },
  { name: 'text_1x128', kind: 'text', batch: 1, seqLen: 128 },
  { name: 'explain_grad_1x128', kind: 'explain', batch: 1, seqLen: 128, method: 'grad' },
  { name: 'explain_ig32_1x128', kind: 'explain', batch: 1, seqLen: 128, method: 'ig', steps: 32 },
  { name: 'train_card_epoch', kind: 'card_epoch', batch: 80, seqLen: 512 },
  { name: 'bert_train_8x128', kind: 'train', batch: 8, seqLen: 128, arch: 'bert' },
  { name: 'bert_infer_32x128', kind: 'infer', batch: 32, seqLen: 128, arch: 'bert' },
];

/** The cases of `bench --device cuda` (the shapes of ../shared/golden/bench.json's PyTorch figures). */
export const GPU_CASES: CaseSpec[] = [
  { name: 'train_32x512', kind: 'train', batch: 32, seqLen: 512 },
  { name: 'train_64x128', kind: 'train', batch: 64, seqLen: 128 },
  { name: 'infer_32x128', kind: 'infer', batch: 32, seqLen: 128 },
  { name: 'infer_1x128', kind: 'infer', batch: 1, seqLen: 128 },
];

export interface CaseTiming {
  /** Seconds of each timed repetition. */
  seconds: number[];
  peakRssBytes: number;
}

const BASE = { n_layers: 6, dim: 768, n_heads: 12, hidden_dim: 3072, vocab_size: 30522, max_position_embeddings: 512 };
const BERT_BASE = { model_type: 'bert', num_hidden_layers: 12, hidden_size: 768, num_attention_heads: 12, intermediate_size: 3072, vocab_size: 30522, max_position_embeddings: 512 };
export const layersOf = (c: CaseSpec) => (c.arch === 'bert' ? BERT_BASE.num_hidden_layers : BASE.n_layers);

/**
 * FLOPs of the matrix products of one forward pass over B x T tokens through `layers` layers, as
 * our engine runs it, split into the linear layers' and attention's (q k^T and the product by v):
 * full layers, then a last layer that projects keys and values for every token but computes
 * queries, attention output and FFN for the [CLS] row only (the rest is negligible).
 */
export function productFlops(B: number, T: number, layers = BASE.n_layers): { linear: number; attention: number } {
  const D = BASE.dim, F = BASE.hidden_dim;
  const linear = T * 2 * (4 * D * D + 2 * D * F), clsLinear = T * 2 * (2 * D * D) + 2 * (2 * D * D + 2 * D * F);
  return { linear: B * ((layers - 1) * linear + clsLinear), attention: B * ((layers - 1) * 4 * T * T * D + 4 * T * D) };
}

export function forwardFlops(B: number, T: number, layers = BASE.n_layers): number {
  const f = productFlops(B, T, layers);
  return f.linear + f.attention;
}

/** A training step costs forward + backward (twice the forward's products). */
export const caseFlops = (c: CaseSpec): number => forwardFlops(c.batch, c.seqLen, layersOf(c)) * (c.kind === 'train' ? 3 : 1);

/** The distilbert-base (or bert-base) classifier of every case, random weights (seed 1). */
export function baseModel(arch?: CaseSpec['arch']): { config: ModelConfig; params: ParamStore } {
  const config = parseConfig({ ...(arch === 'bert' ? BERT_BASE : BASE), id2label: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [String(i), `L${i}`])) });
  const params = new ParamStore(config);
  initParams(params, new Random(1));
  return { config, params };
}

/** Token ids of a case (the same in every process, for every peer). */
export function caseTokens(c: CaseSpec): Int32Array {
  const rng = new Random(2);
  return Int32Array.from({ length: c.batch * c.seqLen }, () => 1000 + Math.floor(rng.next() * 20000));
}

/**
 * The `text` case's input: words of the bench vocabulary (one token each), seqLen tokens with
 * [CLS] and [SEP].
 */
export function caseText(c: CaseSpec): string {
  return Array.from(caseTokens(c).subarray(0, c.seqLen - 2), (id) => `w${id}`).join(' ');
}

/**
 * A model folder of the base model for the `text` case: a vocabulary of BERT's special tokens
 * and words w5 ... (so the bench needs no downloaded vocabulary), and its ONNX export in
 * `<dir>/onnx-export` for the ONNX peers.
 */
export function writeBenchModel(dir: string): { modelDir: string; exportDir: string } {
  const { config, params } = baseModel();
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const tokens = [...specials, ...Array.from({ length: config.vocabSize - specials.length }, (_, i) => `w${i + specials.length}`)];
  const tokenizer = new BertTokenizer(new Vocab(tokens), { lowercase: true, stripAccents: true }, 512);
  const modelDir = join(dir, 'model');
  saveModelDir(modelDir, config, params, tokenizer);
  const exportDir = join(dir, 'onnx-export');
  exportOnnx({ dir: modelDir, config, params, tokenizer }, exportDir, false);
  return { modelDir, exportDir };
}

/** Times `step` in this process: `reps` repetitions after one warm-up. */
export function timeSteps(step: () => unknown, reps: number): CaseTiming {
  step();
  const seconds: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    step();
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return { seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** Times a case in this process; `text` and `explain` cases go through the model folder `modelDir`. */
export function runCase(c: CaseSpec, reps: number, device: DeviceChoice = {}, modelDir?: string): CaseTiming {
  if (c.kind === 'text' || c.kind === 'explain') {
    if (!modelDir) throw new Error(`case ${c.name} needs a model folder`);
    const classifier = Classifier.load(modelDir, { maxLength: c.seqLen, device });
    const text = caseText(c);
    if (c.kind === 'explain') return timeSteps(() => explain(classifier, text, { method: c.method, steps: c.steps }), reps);
    return timeSteps(() => classifier.classify([text]), reps);
  }
  const { config, params } = baseModel(c.arch);
  const model = new EncoderClassifier(config, params, device);
  const { batch: B, seqLen: T } = c;
  const ids = caseTokens(c);
  const mask = new Int32Array(B * T).fill(1);
  const labels = Int32Array.from({ length: B }, (_, i) => i % 20);
  const adam = new KerasAdam(new PolynomialDecay(2e-5, 1000));
  let n = 0;
  return timeSteps(() => {
    if (c.kind === 'infer') {
      model.forward(ids, mask, B, T, { grad: false });
      return;
    }
    model.forward(ids, mask, B, T, { train: true, seed: n++ });
    model.loss(labels);
    model.backward();
    adam.update(model);
  }, reps);
}

export interface GemmPeaks {
  fp32: number;
  bf16: number | null;
  openblas: number;
}

/**
 * The machine's measured matrix-product peaks (GFLOP/s, square n^3, best of reps after one untimed
 * product): fp32 and bf16 as our linear layers run them (oneDNN; bf16 null where the CPU has no
 * native bf16), and OpenBLAS's sgemm as this environment configures it. On the 2-core AMX Xeon
 * the bf16 figure of a process's first call was 1,805-1,930 best of 5 and 1,987-2,152 best of 20
 * (six processes), and once 829: the bench takes the higher of a measurement before its cases and
 * one after them (higherPeaks).
 */
export function gemmPeaks(n = 1536, reps = 20): GemmPeaks {
  let bf16: number | null = null;
  try {
    bf16 = engine().gemmGflops(n, reps, 'bf16');
  } catch {
    bf16 = null;
  }
  return { fp32: engine().gemmGflops(n, reps, 'fp32'), bf16, openblas: engine().gemmGflops(n, reps, 'openblas') };
}

/** Each kind's higher figure of two measurements: the machine's peak read through its noise. */
export function higherPeaks(a: GemmPeaks, b: GemmPeaks): GemmPeaks {
  return { fp32: Math.max(a.fp32, b.fp32), bf16: a.bf16 === null || b.bf16 === null ? null : Math.max(a.bf16, b.bf16), openblas: Math.max(a.openblas, b.openblas) };
}
