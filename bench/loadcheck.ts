/**
 * Load check of `serve` (not a timed test): starts the server on loopback, then 50 concurrent
 * clients POST /v1/classify for 60 s (autocannon); prints requests/s, p50/p99 latency, errors
 * and the server's RSS before and after.
 *
 *   node dist/bench/loadcheck.js --model runs/small/model [--connections 50] [--seconds 60]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { arg } from './args';

async function rss(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1]);
}

async function main(): Promise<void> {
  const model = arg('model');
  const connections = Number(arg('connections', '50'));
  const duration = Number(arg('seconds', '60'));
  const server = spawn(process.execPath, [join(__dirname, '..', 'src', 'cli', 'main.js'), 'serve', '--model', model, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(d.toString());
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  try {
    const post = 'Subject: Re: IDE vs SCSI\n\nWhich disk controller works best with a 486 and OS/2? I have a 340MB drive and 8MB of RAM. '.repeat(3);
    const before = await rss(base);
    const result = await autocannon({
      url: `${base}/v1/classify`, method: 'POST', connections, duration,
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: [post], top_k: 3 }),
    });
    const after = await rss(base);
    const errors = result.errors + result.timeouts + result.non2xx;
    console.log(JSON.stringify({
      connections, seconds: duration, requests: result.requests.total, requests_per_s: result.requests.average,
      latency_p50_ms: result.latency.p50, latency_p99_ms: result.latency.p99, errors,
      rss_before_mb: before / 2 ** 20, rss_after_mb: after / 2 ** 20,
    }, null, 2));
    if (errors > 0) process.exitCode = 1;
  } finally {
    server.kill('SIGTERM');
  }
}

main().catch((e: Error) => {
  console.error(`loadcheck: ${e.message}`);
  process.exit(1);
});
