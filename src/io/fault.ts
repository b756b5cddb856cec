/**
 * Fault injection for the recovery tests: with BERT20NEWS_FAULT=<point> (or <point>:<n>, the n-th
 * time the point is reached), the process kills itself with SIGKILL there, as a power cut or an
 * OOM kill would. Points: `data-loaded` (a run's files written, before training), `step` (after an
 * optimizer step), `atomic-write` (a file half written under its temporary name).
 */
const spec = process.env.BERT20NEWS_FAULT;
const counts = new Map<string, number>();

export function faultPoint(name: string): void {
  if (!spec) return;
  const [point, nth = '1'] = spec.split(':');
  if (point !== name) return;
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  if (n === Number(nth)) process.kill(process.pid, 'SIGKILL');
}
