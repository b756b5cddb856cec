import { MAX_TEXT_CHARS } from '../data/labelled_files';
import { strip, StripPart } from '../data/strip';
import { Hybrid } from '../hybrid/hybrid';
import { withTemperature } from '../eval/calibration';
import { softmaxRows } from '../maths/rows';
import { EncoderClassifier } from '../model/encoder_classifier';
import { predictLogits } from '../model/inference';
import { DeviceChoice, SequenceClassifierModel } from '../model/model';
import { Calibration, LoadedModel, loadModelDir, Preprocessing } from '../model/model_dir';
import { BertTokenizer, Encoding } from '../tokenizer';
import { ProblemType } from '../model/config';

export interface Prediction {
  label: string;
  score: number;
}

/** A text, or a text pair (`[CLS] text [SEP] textPair [SEP]`) for a model trained on pairs. */
export type TextInput = string | { text: string; textPair: string };

export interface Classification {
  /**
   * Labels ranked by score, the top k: softmax probabilities (single-label), each label's sigmoid
   * (multi-label), or the one value (regression).
   */
  predictions: Prediction[];
  /** Multi-label: the labels whose sigmoid is over the threshold, ranked. */
  labels?: string[];
  /** Regression: the predicted value. */
  value?: number;
  /** True when the text had more tokens than the model takes and was cut. */
  truncated: boolean;
  tokens: number;
  /** True when the text was longer than maxTextChars: every part read its first maxTextChars only. */
  cut: boolean;
}


/** What a classifier is built from: every part given, nothing read from disk. */
export interface ClassifierParts {
  model: SequenceClassifierModel;
  tokenizer: BertTokenizer;
  /** Label names in the model's order. */
  labels: string[];
  /** Tokens per text, [CLS] and [SEP] included. */
  maxLength: number;
  /** TF-IDF parts fused with the transformer (hybrid model folders). */
  hybrid?: Hybrid;
  /** Strip rules applied to every text before the tokenizer and the hybrid's parts read it. */
  strip?: StripPart[];
  /** Characters of a text read at most, by every part (default MAX_TEXT_CHARS, as for training data). */
  maxTextChars?: number;
  /** Temperatures applied to the probabilities (none: as the model gives them). */
  calibration?: Calibration;
  /** The model was trained on text pairs (what a page asks for). */
  pairs?: boolean;
}

export interface LoadOptions {
  /** Tokens per text (default: the model folder's, else its tokenizer's model_max_length). */
  maxLength?: number;
  /** Where the model step runs (default: the CPU in fp32). */
  device?: DeviceChoice;
  /**
   * Strip rules for a folder that does not record its own; for one that does, the same rules or
   * nothing (different rules are refused: the model was trained on text stripped its way).
   */
  strip?: StripPart[];
  /** Characters of a text read at most (default MAX_TEXT_CHARS, as for training data). */
  maxTextChars?: number;
}

/**
 * Text in, ranked labels out: preprocessing + tokenizer + model + softmax (sigmoid per label for
 * multi-label models, the raw value for regression), batched; for a hybrid, fused with its TF-IDF
 * parts (hybrid/hybrid.ts). The pipeline of transformers.js, in TypeScript.
 */
export class Classifier {
  readonly model: SequenceClassifierModel;
  readonly hybrid?: Hybrid;
  readonly tokenizer: BertTokenizer;
  readonly labels: string[];
  readonly maxLength: number;
  readonly strip: StripPart[];
  readonly maxTextChars: number;
  readonly calibration?: Calibration;
  readonly pairs: boolean;

  constructor(parts: ClassifierParts) {
    this.pairs = parts.pairs ?? false;
    this.model = parts.model;
    this.tokenizer = parts.tokenizer;
    this.labels = parts.labels;
    this.maxLength = parts.maxLength;
    this.hybrid = parts.hybrid;
    this.strip = parts.strip ?? [];
    this.maxTextChars = parts.maxTextChars ?? MAX_TEXT_CHARS;
    this.calibration = parts.calibration;
  }

  /** The classifier of a model folder (a path, or a folder loadModelDir has read). */
  static load(model: string | LoadedModel, opts: LoadOptions = {}): Classifier {
    const loaded = typeof model === 'string' ? loadModelDir(model) : model;
    return new Classifier({
      model: new EncoderClassifier(loaded.config, loaded.params, opts.device),
      tokenizer: loaded.tokenizer,
      labels: loaded.config.id2label,
      maxLength: Math.min(opts.maxLength ?? loaded.preprocessing?.maxLength ?? loaded.tokenizer.modelMaxLength, loaded.config.maxPositionEmbeddings),
      hybrid: Hybrid.load(loaded.dir),
      strip: stripRules(loaded.dir, loaded.preprocessing, opts.strip),
      maxTextChars: opts.maxTextChars,
      calibration: loaded.calibration,
      pairs: loaded.preprocessing?.pairs,
    });
  }

  /** A text as the model reads it: its first maxTextChars, with the strip rules it was trained with applied. */
  preprocess(text: string): string {
    const read = text.length > this.maxTextChars ? text.slice(0, this.maxTextChars) : text;
    return this.strip.length ? strip(read, this.strip) : read;
  }

  get problemType(): ProblemType {
    return this.model.config.problemType;
  }

  /** The tokens of an input: a text, or a pair with its token types. */
  encode(input: TextInput): Encoding {
    if (typeof input === 'string') return this.tokenizer.encode(this.preprocess(input), { maxLength: this.maxLength });
    return this.tokenizer.encodePair(this.preprocess(input.text), this.preprocess(input.textPair), { maxLength: this.maxLength });
  }

  /**
   * Probabilities [n, labels] (float64) and per-text truncation flags; for a hybrid, the fused
   * probabilities, with the transformer's own and each TF-IDF part's decision values (hybrid.spec.parts' order) in `parts`.
   * With a calibration, the transformer's probabilities are softmax(logits / T) and the hybrid's softmax(fused score / T_hybrid),
   * the fused score taking the transformer's uncalibrated log-probabilities its weights were chosen with.
   * `raw` also gives the scores before any temperature: the logits, and a hybrid's fused scores.
   */
  probabilities(texts: TextInput[], batchSize = 32): { probs: Float64Array; truncated: boolean[]; tokens: number[]; cut: boolean[]; parts?: { transformer: Float64Array; tfidf: Float64Array[] }; raw: { transformer: Float64Array; hybrid?: Float64Array } } {
    const C = this.labels.length;
    const enc = texts.map((t) => this.encode(t));
    const logits = Float64Array.from(predictLogits(this.model, enc, this.tokenizer.padId, batchSize));
    const long = (t: TextInput) => (typeof t === 'string' ? t.length : Math.max(t.text.length, t.textPair.length)) > this.maxTextChars;
    const flags = { truncated: enc.map((e) => e.truncated), tokens: enc.map((e) => e.ids.length), cut: texts.map(long) };
    if (this.problemType === 'regression') return { probs: logits, ...flags, raw: { transformer: logits } };
    if (this.problemType === 'multi_label_classification') return { probs: logits.map((z) => 1 / (1 + Math.exp(-z))), ...flags, raw: { transformer: logits } };
    const transformer = withTemperature(logits, C, this.calibration?.transformer ?? 1);
    if (!this.hybrid) return { probs: transformer, ...flags, raw: { transformer: logits } };
    const read = texts.map((t) => {
      if (typeof t !== 'string') throw new Error('a hybrid model reads single texts, not text pairs');
      return this.preprocess(t);
    });
    const { scores, tfidfScores } = this.hybrid.combine(softmaxRows(logits, C), read, C);
    return { probs: withTemperature(scores, C, this.calibration?.hybrid ?? 1), ...flags, parts: { transformer, tfidf: tfidfScores }, raw: { transformer: logits, hybrid: scores } };
  }

  /** Ranked labels of each input; multi-label models also list the labels over `threshold` (default 0.5). */
  classify(texts: TextInput[], topK = this.labels.length, threshold = 0.5): Classification[] {
    const C = this.labels.length;
    const { probs, truncated, tokens, cut } = this.probabilities(texts);
    return texts.map((_, r) => {
      const ranked = this.labels.map((label, c) => ({ label, score: probs[r * C + c] })).sort((a, b) => b.score - a.score);
      const out: Classification = { predictions: ranked.slice(0, Math.min(topK, C)), truncated: truncated[r], tokens: tokens[r], cut: cut[r] };
      if (this.problemType === 'multi_label_classification') out.labels = ranked.filter((p) => p.score > threshold).map((p) => p.label);
      if (this.problemType === 'regression') out.value = probs[r];
      return out;
    });
  }
}

/** The folder's recorded rules; asked-for rules where it records none; an error where they differ. */
function stripRules(dir: string, saved: Preprocessing | undefined, asked: StripPart[] | undefined): StripPart[] {
  if (!saved) return asked ?? [];
  if (asked && asked.length && [...asked].sort().join() !== [...saved.strip].sort().join()) {
    throw new Error(`${dir} was trained with --strip ${saved.strip.join(',') || '(none)'} and applies it itself: drop --strip ${asked.join(',')}`);
  }
  return saved.strip;
}
