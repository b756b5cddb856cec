import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Random } from '../src/data/random';
import { ModelConfig, ModelHead, parseConfig, ProblemType } from '../src/model/config';
import { EncoderClassifier } from '../src/model/encoder_classifier';
import { DistilBertMaskedLM } from '../src/model/masked_lm';
import { ParamStore } from '../src/io/params';
import { initParams } from '../src/train/init';

/**
 * Backward checked against central finite differences of the loss, per parameter tensor, on
 * configurations other than the golden ones (odd head counts, more layers, other activations),
 * in train mode with dropout: the masks depend only on the seed, so the loss is a smooth
 * function of the weights and finite differences apply.
 */
function otherConfig(activation: string, dropout: number, head: ModelHead): ModelConfig {
  return {
    ...parseConfig({
      vocab_size: 50, max_position_embeddings: 16, n_layers: 3, n_heads: 3, dim: 24, hidden_dim: 40, activation,
      dropout, attention_dropout: dropout, seq_classif_dropout: 2 * dropout, id2label: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [String(i), `c${i}`])),
    }),
    head,
  };
}

/** Weights for `config`, larger than HF's 0.02 so that every path carries a visible gradient. */
function probeParams(config: ModelConfig, rng: Random): ParamStore {
  const params = new ParamStore(config);
  initParams(params, rng);
  for (let i = 0; i < params.size; i++) params.data[i] += 0.1 * rng.normal();
  return params;
}

/**
 * For each tensor, a unit direction u half along the analytic gradient (a strong signal that a
 * wrong gradient cannot fake) and half random: compares g.u with (L(p+hu) - L(p-hu)) / 2h.
 * `loss` writes the perturbed weights to the model and returns its loss.
 */
function compareDirectional(what: string, params: ParamStore, grads: ParamStore, loss: () => number, rng: Random): void {
  const h = 1e-3;
  let worst = 0;
  for (const slot of params.slots) {
    const w = params.get(slot.name);
    const g = grads.get(slot.name);
    const gNorm = Math.hypot(...g);
    const noise = Float64Array.from({ length: slot.size }, () => rng.normal());
    const nNorm = Math.hypot(...noise);
    let u = Float64Array.from(noise, (x, i) => (gNorm > 0 ? g[i] / gNorm : 0) + x / nNorm);
    // A one-value tensor (a regression head's bias) can draw noise that cancels the gradient's direction.
    if (Math.hypot(...u) < 1e-6) u = noise;
    const uNorm = Math.hypot(...u);
    for (let i = 0; i < u.length; i++) u[i] /= uNorm;
    let analytic = 0;
    for (let i = 0; i < slot.size; i++) analytic += g[i] * u[i];
    const orig = Float32Array.from(w);
    for (let i = 0; i < slot.size; i++) w[i] = orig[i] + h * u[i];
    const up = loss();
    for (let i = 0; i < slot.size; i++) w[i] = orig[i] - h * u[i];
    const down = loss();
    w.set(orig);
    const numeric = (up - down) / (2 * h);
    // The loss is computed in fp32: the rounding of two evaluations (4 x 2^-23 of the loss allowed,
    // two to four units in the last place) over 2h bounds what a difference quotient resolves. A
    // tensor with no gradient (attention's key bias: softmax ignores a shift of a row's scores)
    // reads as that noise: 1.1e-4 at a loss of 2.02, where this bound is 4.8e-4 (and the 1e-2
    // below alone allowed 1e-4).
    const resolution = (4 * 2 ** -23 * Math.max(Math.abs(up), Math.abs(down))) / (2 * h);
    const err = Math.max(0, Math.abs(numeric - analytic) - resolution) / Math.max(1e-2, Math.abs(numeric) + Math.abs(analytic));
    worst = Math.max(worst, err);
    assert.ok(err < 1e-2, `${what}: ${slot.name}: analytic ${analytic}, numeric ${numeric} (resolution ${resolution})`);
  }
  console.log(`${what}: worst relative error ${worst.toExponential(2)} over ${params.slots.length} tensors`);
}

const B = 3, T = 9;
function probeBatch(rng: Random): { ids: Int32Array; mask: Int32Array } {
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * 50));
  const mask = Int32Array.from({ length: B * T }, (_, i) => (i % T < [9, 6, 2][Math.floor(i / T)] ? 1 : 0));
  return { ids, mask };
}

function check(activation: string, dropout: number): void {
  const config = otherConfig(activation, dropout, 'classifier');
  const rng = new Random(7);
  const params = probeParams(config, rng);
  const model = new EncoderClassifier(config, params);
  const { ids, mask } = probeBatch(rng);
  const labels = Int32Array.from([1, 4, 6]);
  // The model holds its own copy of the weights: each probe writes the perturbed ones to it.
  const loss = () => {
    model.writeParams(params.data);
    model.forward(ids, mask, B, T, { train: true, seed: 11 });
    return model.loss(labels);
  };
  model.zeroGrads();
  loss();
  model.backward();
  compareDirectional(`${activation}, dropout ${dropout}`, params, model.readGrads(), loss, rng);
}

/**
 * BertForSequenceClassification (token types, the attention output's dropout, the tanh pooler) with
 * each problem type's loss: cross-entropy, BCE with logits on 0/1 and soft targets, squared error.
 */
function checkBert(problem: ProblemType, activation: string, dropout: number): void {
  const labels = problem === 'regression' ? 1 : 5;
  const config = parseConfig({
    model_type: 'bert', vocab_size: 50, max_position_embeddings: 16, type_vocab_size: 3, num_hidden_layers: 3, num_attention_heads: 3,
    hidden_size: 24, intermediate_size: 40, hidden_act: activation, hidden_dropout_prob: dropout, attention_probs_dropout_prob: dropout,
    classifier_dropout: 2 * dropout, layer_norm_eps: 1e-7, problem_type: problem, num_labels: labels,
  });
  const rng = new Random(9);
  const params = probeParams(config, rng);
  const model = new EncoderClassifier(config, params);
  const { ids, mask } = probeBatch(rng);
  const tokenTypes = Int32Array.from({ length: B * T }, (_, i) => (i % T < 4 ? 0 : 1 + (i % 2)));
  const singleLabels = Int32Array.from([1, 4, 2]);
  const targets = problem === 'regression' ? Float32Array.from([0.5, -1.5, 2]) : Float32Array.from({ length: B * labels }, (_, i) => [0, 1, 0.3][i % 3]);
  const loss = () => {
    model.writeParams(params.data);
    model.forward(ids, mask, B, T, { train: true, seed: 13, tokenTypes });
    return problem === 'single_label_classification' ? model.loss(singleLabels) : model.lossTargets(targets);
  };
  model.zeroGrads();
  loss();
  model.backward();
  compareDirectional(`BERT ${problem}, ${activation}, dropout ${dropout}`, params, model.readGrads(), loss, rng);
}

/** The masked-LM head (tied projector, predicted rows only, padding rows among them) the same way. */
function checkMaskedLm(activation: string, dropout: number): void {
  const config = otherConfig(activation, dropout, 'masked-lm');
  const rng = new Random(8);
  const params = probeParams(config, rng);
  const model = new DistilBertMaskedLM(config, params);
  const { ids, mask } = probeBatch(rng);
  const predict = Int32Array.from([0, 4, 8, 10, 14, 19, 26]);
  const labels = Int32Array.from([3, 17, 49, 0, 22, 8, 31]);
  const loss = () => {
    model.writeParams(params.data);
    model.forward(ids, mask, B, T, predict, { train: true, seed: 12 });
    return model.loss(labels);
  };
  model.zeroGrads();
  loss();
  model.backward();
  compareDirectional(`masked LM, ${activation}, dropout ${dropout}`, params, model.readGrads(), loss, rng);
}

describe('backward vs finite differences on other configurations', () => {
  it('gelu, 3 layers, 3 heads, dropout on', () => check('gelu', 0.1));
  it('gelu_new without dropout', () => check('gelu_new', 0));
  it('relu with dropout', () => check('relu', 0.2));
  it('masked LM: gelu, 3 layers, 3 heads, dropout on', () => checkMaskedLm('gelu', 0.1));
  it('masked LM: gelu_new without dropout', () => checkMaskedLm('gelu_new', 0));
  it('BERT single-label: gelu, token types, dropout on', () => checkBert('single_label_classification', 'gelu', 0.1));
  it('BERT multi-label: gelu_new, dropout on', () => checkBert('multi_label_classification', 'gelu_new', 0.1));
  it('BERT regression: relu without dropout', () => checkBert('regression', 'relu', 0));
});

describe('[CLS]-only last layer', () => {
  const configs: [string, Record<string, unknown>][] = [
    ['DistilBERT', { vocab_size: 50, max_position_embeddings: 16, n_layers: 2, n_heads: 2, dim: 16, hidden_dim: 32, dropout: 0.2, attention_dropout: 0.2, seq_classif_dropout: 0.2 }],
    ['BERT', { model_type: 'bert', vocab_size: 50, max_position_embeddings: 16, num_hidden_layers: 2, num_attention_heads: 2, hidden_size: 16, intermediate_size: 32, hidden_dropout_prob: 0.2, attention_probs_dropout_prob: 0.2 }],
  ];
  for (const [name, raw] of configs) {
    it(`gives the full computation's loss and gradients in train mode, dropout masks included (${name})`, () => {
      const config = parseConfig(raw);
      const params = new ParamStore(config);
      initParams(params, new Random(9));
      const model = new EncoderClassifier(config, params);
      const B = 2, T = 6;
      const ids = Int32Array.from([5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 0, 0]);
      const mask = Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
      const tokenTypes = Int32Array.from([0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0]);
      const labels = Int32Array.from([0, 1]);
      const step = (allHiddenStates: boolean) => {
        model.zeroGrads();
        model.forward(ids, mask, B, T, { train: true, seed: 4, allHiddenStates, tokenTypes });
        const loss = model.loss(labels);
        model.backward();
        return { loss, grads: model.readGrads().data };
      };
      const full = step(true), cls = step(false);
      assert.ok(Math.abs(full.loss - cls.loss) < 1e-6, `${full.loss} vs ${cls.loss}`);
      let worst = 0;
      for (let i = 0; i < full.grads.length; i++) worst = Math.max(worst, Math.abs(full.grads[i] - cls.grads[i]));
      assert.ok(worst < 1e-6, `max gradient difference ${worst}`);
    });
  }
});
