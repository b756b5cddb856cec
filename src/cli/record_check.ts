/**
 * Checks of a run record's settings as strict as the flags that set them (cli/common.ts's parsers):
 * a run.json edited by hand, or damaged, is refused in one line naming the field, never trained on.
 */
export type Check = (v: unknown) => string | undefined;

export const int = (min: number, max = Number.MAX_SAFE_INTEGER): Check => (v) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : `an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}`;
export const num = (min: number, max = Infinity): Check => (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? undefined : `a number in [${min}, ${max}]`;
export const oneOf = (...values: unknown[]): Check => (v) => (values.includes(v) ? undefined : `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
export const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'true or false');
export const optional = (c: Check): Check => (v) => (v === undefined || v === null ? undefined : c(v));

export type Schema = { [field: string]: Check | Schema };

/** The settings as the schema describes them, else an error naming the first bad field. */
export function checkSettings<S>(value: unknown, schema: Schema, prefix = 'settings'): S {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${prefix} must be an object`);
  const o = value as Record<string, unknown>;
  for (const [field, check] of Object.entries(schema)) {
    const name = `${prefix}.${field}`;
    if (typeof check === 'function') {
      const want = check(o[field]);
      if (want) throw new Error(`${name} must be ${want}, got ${JSON.stringify(o[field]) ?? 'nothing'}`);
    } else {
      checkSettings(o[field], check, name);
    }
  }
  return value as S;
}

/** What train and pretrain record alike: the batches, the model shape and its dropouts. */
export const RUN_SCHEMA: Schema = {
  epochs: int(1), batchSize: int(1), microBatch: int(1), lr: num(0), maxLength: int(2), seed: int(0),
  dropout: num(0, 0.99), attentionDropout: num(0, 0.99), beta1: num(0, 1), beta2: num(0, 1), epsilon: num(0),
  arch: { nLayers: int(1), dim: int(1), nHeads: int(1), hiddenDim: int(1) },
};
