/**
 * The downloads' timeout: an abort after no byte has come for BERT20NEWS_DOWNLOAD_IDLE_S seconds
 * (default 60), however long the whole file takes: a large file on a slow link completes, a
 * stalled one breaks off (and resumes by Range on the next run).
 */
export interface IdleTimeout {
  readonly signal: AbortSignal;
  readonly seconds: number;
  /** A byte came: the clock starts again. */
  touch(): void;
  clear(): void;
}

export function idleTimeout(): IdleTimeout {
  const v = process.env.BERT20NEWS_DOWNLOAD_IDLE_S;
  const seconds = v === undefined ? 60 : Number(v);
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new Error(`BERT20NEWS_DOWNLOAD_IDLE_S must be a positive number of seconds, not ${JSON.stringify(v)}`);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no byte for ${seconds} s`)), seconds * 1000).unref();
  };
  touch();
  return { signal: controller.signal, seconds, touch, clear: () => clearTimeout(timer) };
}
