import { Hybrid } from '../hybrid/hybrid';
import { LoadedModel } from '../io/model_dir';
import { BertTokenizer } from '../tokenizer';
import { DistilBert } from './distilbert';
import { DeviceChoice, SequenceClassifierModel } from './model';
import { predictLogits, softmaxRows } from './inference';

export interface Prediction {
  label: string;
  score: number;
}

export interface Classification {
  /** Labels ranked by probability, the top k. */
  predictions: Prediction[];
  /** True when the text had more tokens than the model takes and was cut. */
  truncated: boolean;
  tokens: number;
}

/**
 * Text in, ranked labels out: tokenizer + model + softmax, batched; for a hybrid model folder,
 * fused with its TF-IDF parts (hybrid/hybrid.ts).
 */
export class Classifier {
  readonly model: SequenceClassifierModel;
  readonly hybrid?: Hybrid;
  readonly tokenizer: BertTokenizer;
  readonly labels: string[];
  readonly maxLength: number;

  /**
   * maxLength: tokens per text, [CLS] and [SEP] included (default: tokenizer_config's model_max_length);
   * device: where the model step runs (default: the CPU in fp32).
   */
  constructor(loaded: LoadedModel, maxLength?: number, device: DeviceChoice = {}) {
    this.model = new DistilBert(loaded.config, loaded.params, device);
    this.tokenizer = loaded.tokenizer;
    this.labels = loaded.config.id2label;
    this.maxLength = Math.min(maxLength ?? loaded.tokenizer.modelMaxLength, loaded.config.maxPositionEmbeddings);
    this.hybrid = Hybrid.load(loaded.dir);
  }

  /**
   * Probabilities [n, labels] (float64) and per-text truncation flags; for a hybrid, the fused
   * probabilities, with the transformer's own and each TF-IDF part's decision values (hybrid.spec.parts' order) in `parts`.
   */
  probabilities(texts: string[], batchSize = 32): { probs: Float64Array; truncated: boolean[]; tokens: number[]; parts?: { transformer: Float64Array; tfidf: Float64Array[] } } {
    const enc = texts.map((t) => this.tokenizer.encode(t, { maxLength: this.maxLength }));
    const logits = predictLogits(this.model, enc, this.tokenizer.padId, batchSize);
    const transformer = softmaxRows(logits, this.labels.length);
    const flags = { truncated: enc.map((e) => e.truncated), tokens: enc.map((e) => e.ids.length) };
    if (!this.hybrid) return { probs: transformer, ...flags };
    const { probs, tfidfScores } = this.hybrid.combine(transformer, texts, this.labels.length);
    return { probs, ...flags, parts: { transformer, tfidf: tfidfScores } };
  }

  classify(texts: string[], topK = this.labels.length): Classification[] {
    const C = this.labels.length;
    const { probs, truncated, tokens } = this.probabilities(texts);
    return texts.map((_, r) => {
      const ranked = this.labels.map((label, c) => ({ label, score: probs[r * C + c] })).sort((a, b) => b.score - a.score);
      return { predictions: ranked.slice(0, Math.min(topK, C)), truncated: truncated[r], tokens: tokens[r] };
    });
  }
}
