import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The read-only ../shared folder (golden outputs, data, vocabulary), or BERT20NEWS_SHARED.
 * Tests that need it are skipped with this reason when it is absent, never passed.
 */
export const SHARED_DIR = resolve(process.env.BERT20NEWS_SHARED ?? join(__dirname, '..', '..', '..', 'shared'));

export function sharedPath(...parts: string[]): string {
  return join(SHARED_DIR, ...parts);
}

/** `false` when the file exists, else a skip reason for node:test's `skip` option. */
export function skipUnlessShared(...parts: string[]): false | string {
  const p = sharedPath(...parts);
  return existsSync(p) ? false : `needs ${p} (set BERT20NEWS_SHARED to the shared folder)`;
}
