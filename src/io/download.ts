import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic';
import { idleTimeout } from './idle';

/** Official sources of what the commands fetch when no local path is given (mirrors via environment). */
export const SOURCES = {
  // The https mirror scikit-learn's fetch_20newsgroups uses, with the sha256 it pins.
  newsgroups: process.env.BERT20NEWS_DATA_URL ?? 'https://ndownloader.figshare.com/files/5975967',
  hub: process.env.HF_ENDPOINT ?? 'https://huggingface.co',
};

/** sha256 of the files fetched by well-known URL: a download that differs is never cached. */
export const PINNED_SHA256 = {
  newsgroups: '8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610',
  // bert-base-uncased's vocab.txt, which distilbert-base-uncased publishes too.
  vocab: '07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3',
};

/** $BERT20NEWS_CACHE, else $XDG_CACHE_HOME/bert-20news, else ~/.cache/bert-20news. */
export function cacheDir(): string {
  return process.env.BERT20NEWS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'bert-20news');
}

/**
 * Returns the cached copy of `url` under cacheDir()/relPath, downloading it first if needed.
 * A failed download names the flag that takes a local path instead. With `sha256`, a download
 * whose hash differs (an error page served with status 200, a truncated file) is an error and
 * is not cached.
 */
export async function cachedDownload(url: string, relPath: string, localFlag: string, sha256?: string): Promise<string> {
  const dest = join(cacheDir(), relPath);
  if (existsSync(dest)) return dest;
  mkdirSync(join(dest, '..'), { recursive: true });
  process.stderr.write(`downloading ${url} -> ${dest}\n`);
  let body: Buffer;
  const idle = idleTimeout();
  try {
    const res = await fetch(url, { signal: idle.signal });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const chunks: Uint8Array[] = [];
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      idle.touch();
      chunks.push(chunk);
    }
    body = Buffer.concat(chunks);
  } catch (e) {
    const err = e as Error & { cause?: Error };
    const why = err.cause?.message ?? err.message;
    throw new Error(`cannot download ${url} (${why}); give a local copy with ${localFlag}`);
  } finally {
    idle.clear();
  }
  if (sha256) {
    const got = createHash('sha256').update(body).digest('hex');
    if (got !== sha256) {
      throw new Error(`the download of ${url} is not the expected file (sha256 ${got}, expected ${sha256}; ${body.length} bytes); nothing was cached: give a local copy with ${localFlag}`);
    }
  }
  writeFileAtomic(dest, [body]);
  return dest;
}
