import { SingleBar } from 'cli-progress';
import { removeStaleTemps } from '../io/atomic';

/** What was typed, quoted where needed, for run records and model cards. */
export function commandLine(): string {
  return ['bert-20news', ...process.argv.slice(2)].map((a) => (/^[\w./:=,-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** Removes temporary files that an interrupted atomic write left in a run's folders. */
export function removeInterruptedWrites(dirs: string[]): void {
  for (const dir of dirs) {
    const stale = removeStaleTemps(dir);
    if (stale.length) process.stderr.write(`removed ${stale.length} temporary file(s) of an interrupted write in ${dir}\n`);
  }
}

/**
 * Ctrl-C (or SIGTERM) asks the training loop to stop after its current step and save a
 * checkpoint; a second one quits at once.
 */
export function stopOnSignal(): { readonly requested: boolean } {
  const flag = { requested: false };
  const onSignal = () => {
    if (flag.requested) process.exit(130);
    flag.requested = true;
    process.stderr.write('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return flag;
}

/** The training progress bar: redrawn on a terminal, a line every 30 s elsewhere when `progress`. */
export function progressBar(format: string, progress: boolean): SingleBar {
  return new SingleBar({
    format, hideCursor: process.stderr.isTTY === true, noTTYOutput: progress, notTTYSchedule: 30_000, etaBuffer: 20, barsize: 25,
  });
}
