import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { faultPoint } from './fault';

/** The temporary sibling that writeFileAtomic writes first: `.<name>.<pid>.tmp`. */
const TEMP = /^\..+\.(\d+)\.tmp$/;

/**
 * Writes chunks to `path` through a temporary sibling, fsync and a rename, so that an
 * interrupted write never leaves a half-written file under the real name.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array[]): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    try {
      chunks.forEach((c, i) => {
        let done = 0;
        while (done < c.length) done += writeSync(fd, c, done, c.length - done);
        if (i === 0) faultPoint('atomic-write');
      });
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the temporary files that interrupted atomic writes left in `dir` (those of processes
 * that no longer run); returns their names.
 */
export function removeStaleTemps(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = TEMP.exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Creates `dir` and its missing parents one level at a time, then checks that a file can be
 * written there, so that a command fails before its work with one line. (Node's recursive
 * mkdirSync never returns under /proc: it retries ENOENT forever.)
 */
export function ensureWritableDir(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  while (!existsSync(d)) {
    missing.unshift(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  try {
    if (!statSync(d).isDirectory()) throw new Error(`${d} is not a folder`);
    for (const m of missing) mkdirSync(m);
    const probe = join(resolve(dir), `.write-check.${process.pid}.tmp`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot write to ${dir}: ${err.code ?? err.message}`);
  }
}
