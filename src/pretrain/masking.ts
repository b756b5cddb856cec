import { Random } from '../data/random';

/** How the masked-LM inputs are made (HF's DataCollatorForLanguageModeling / ForWholeWordMask). */
export interface MaskingOptions {
  /** Share of the (non-special) tokens predicted: 0.15 as in BERT. */
  probability: number;
  /** Choose whole words (a token and its ## continuations) instead of single tokens. */
  wholeWord: boolean;
}

/** What masking needs of the vocabulary. */
export interface MaskingVocab {
  size: number;
  maskId: number;
  /** Ids never predicted: [PAD], [CLS], [SEP] (HF's special-tokens mask). */
  special: Set<number>;
  /** Ids of ## continuation pieces (whole-word masking groups them with the piece before). */
  continuation: Uint8Array;
}

/** One sequence made ready for the masked LM: inputs with replacements, and what is predicted. */
export interface MaskedSequence {
  ids: number[];
  /** Positions predicted (increasing) and the original tokens there. */
  positions: number[];
  labels: number[];
}

/**
 * Dynamic masking: a fresh choice every time a sequence is seen, drawn from `rng`. Of the chosen
 * tokens 80% become [MASK], 10% a random token and 10% stay, as in BERT. A sequence with
 * something to predict always gets at least one prediction (HF can draw none; a batch of
 * short texts then has no loss).
 */
export function maskSequence(ids: number[], vocab: MaskingVocab, opts: MaskingOptions, rng: Random): MaskedSequence {
  const candidate = ids.map((id) => !vocab.special.has(id));
  // Units are single tokens, or words: a start piece and the ## pieces after it.
  const units: number[][] = [];
  ids.forEach((id, i) => {
    if (!candidate[i]) return;
    const joins = opts.wholeWord && vocab.continuation[id] && units.length && units[units.length - 1].at(-1) === i - 1;
    if (joins) units[units.length - 1].push(i);
    else units.push([i]);
  });
  const chosen = units.filter(() => rng.next() < opts.probability);
  if (!chosen.length && units.length) chosen.push(units[Math.floor(rng.next() * units.length)]);
  const out = [...ids];
  const positions = chosen.flat().sort((a, b) => a - b);
  for (const i of positions) {
    const r = rng.next();
    if (r < 0.8) out[i] = vocab.maskId;
    else if (r < 0.9) out[i] = Math.floor(rng.next() * vocab.size);  // any token, as HF draws it
  }
  return { ids: out, positions, labels: positions.map((i) => ids[i]) };
}

