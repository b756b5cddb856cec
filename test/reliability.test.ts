import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cachedDownload, PINNED_SHA256 } from '../src/io/download';
import { loadModelDir } from '../src/model/model_dir';
import { readSafetensors } from '../src/io/safetensors';
import { Classifier } from '../src/pipeline/classifier';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../src/serve/server';
import { makeModelDir, makeNewsgroupsFolder, makeVocab } from './fixtures';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const data = makeNewsgroupsFolder();
const vocab = makeVocab();
const cli = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input: opts.input ?? '', env: { ...process.env, ...opts.env }, timeout: 120_000 });
const trainArgs = (out: string, epochs = 3) => ['train', '--data', data, '--init', 'scratch', '--vocab', vocab, '--preset', 'small',
  '--layers', '1', '--dim', '16', '--heads', '2', '--ffn', '32', '--max-length', '16', '--batch-size', '4', '--epochs', String(epochs),
  '--lr', '1e-2', '--no-progress', '--out', out];
const tempFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.tmp')) : []);
const oneLine = (stderr: string) => assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);

/** `serve` on a free loopback port, as a user starts it, with --drain `drainMs`. */
async function serve(model: string, drainMs: number): Promise<{ child: ReturnType<typeof spawn>; port: number }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0', '--drain', String(drainMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  return { child, port };
}

/** A model folder copy whose config.json, tokenizer or weights a test then spoils. */
function modelCopy(): string {
  const src = makeModelDir(32);
  const dir = mkdtempSync(join(tmpdir(), 'spoiled-'));
  for (const f of readdirSync(src)) writeFileSync(join(dir, f), readFileSync(join(src, f)));
  return dir;
}

/** A safetensors file from a header object and a data section. */
function safetensors(header: unknown, dataBytes: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
}

describe('training runs: interruptions and bad settings', () => {
  it('checks settings before writing anything: --max-length, --batch-size, a missing --validation-list', () => {
    const root = mkdtempSync(join(tmpdir(), 'runs-'));
    const cases: [string[], RegExp][] = [
      [['--max-length', '1000'], /--max-length 1000 exceeds the model's 512 positions/],
      [['--batch-size', '100000'], /--batch-size 100000 is larger than the \d+ training examples/],
      [['--validation-list', join(root, 'nope.txt')], /nope\.txt/],
    ];
    cases.forEach(([extra, message], i) => {
      const out = join(root, `r${i}`);
      const r = cli([...trainArgs(out), ...extra]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, message);
      oneLine(r.stderr);
      assert.ok(!existsSync(join(out, 'run.json')), 'nothing written');
      // The same folder then takes a good run.
      assert.equal(cli(trainArgs(out, 1)).status, 0);
    });
  });

  it('SIGKILL while loading, mid-epoch and during a checkpoint write: resumed runs end byte-identical, no temporary files', () => {
    const root = mkdtempSync(join(tmpdir(), 'runs-'));
    const full = join(root, 'full');
    assert.equal(cli(trainArgs(full)).status, 0);
    const want = readFileSync(join(full, 'model', 'model.safetensors'));
    // 21 steps per epoch (87 training posts, batch 4): step 10 is before the first checkpoint, step 30
    // after it. Atomic writes of a run: tokenizer/vocab.txt, tokenizer_config.json, run.json, then a
    // checkpoint per epoch (the 4th and 5th writes).
    for (const fault of ['data-loaded', 'step:10', 'step:30', 'atomic-write:4', 'atomic-write:5']) {
      const out = join(root, fault.replace(':', '-'));
      const killed = cli(trainArgs(out), { env: { BERT20NEWS_FAULT: fault } });
      assert.equal(killed.signal, 'SIGKILL', `${fault}: the fault fired`);
      assert.ok(!existsSync(join(out, 'model', 'model.safetensors')), `${fault}: not finished`);
      if (fault.startsWith('atomic-write')) assert.equal(tempFiles(out).length, 1, `${fault}: a half-written file was left`);
      const resumed = cli(['train', '--out', out, '--resume', '--no-progress']);
      assert.equal(resumed.status, 0, `${fault}: ${resumed.stderr}`);
      assert.ok(readFileSync(join(out, 'model', 'model.safetensors')).equals(want), `${fault}: weights equal the uninterrupted run's`);
      assert.deepEqual([...tempFiles(out), ...tempFiles(join(out, 'model'))], [], `${fault}: no temporary files`);
    }
  });

  it('a folder that stopped before its first checkpoint can also be started afresh', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'runs-')), 'r');
    assert.equal(cli(trainArgs(out), { env: { BERT20NEWS_FAULT: 'data-loaded' } }).signal, 'SIGKILL');
    const again = cli(trainArgs(out, 1));
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /stopped before its first checkpoint: starting it afresh/);
  });

  it('a run killed before run.json was written: --resume says to start it without --resume, and its temporary files go', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'runs-')), 'r');
    assert.equal(cli(trainArgs(out), { env: { BERT20NEWS_FAULT: 'atomic-write' } }).signal, 'SIGKILL');
    const temps = () => readdirSync(join(out, 'tokenizer')).filter((f) => f.endsWith('.tmp'));
    assert.equal(temps().length, 1, 'killed halfway through its first file');
    const r = cli(['train', '--out', out, '--resume']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /stopped before its run record \(run\.json\) was written: run the same command without --resume to start it/);
    oneLine(r.stderr.split('\n').filter((l) => !l.startsWith('removed ')).join('\n'));
    assert.deepEqual(temps(), [], 'the interrupted write is removed');
    assert.equal(cli(trainArgs(out, 1)).status, 0, 'the same command without --resume starts it');
  });

  it('--resume refuses settings it would ignore; a corrupt run.json is named', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'runs-')), 'r');
    assert.equal(cli(trainArgs(out, 1)).status, 0);
    const r = cli(['train', '--out', out, '--resume', '--epochs', '5']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--resume continues .* with the settings it recorded: --epochs cannot change them/);
    oneLine(r.stderr);
    writeFileSync(join(out, 'run.json'), '{"settings": ');
    const c = cli(['train', '--out', out, '--resume']);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /run\.json: not a readable run record/);
  });

  it('recorded settings are checked as strictly as the flags: a bad field is one line naming it, nothing trained', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'runs-')), 'r');
    assert.equal(cli(trainArgs(out, 1)).status, 0);
    const record = readFileSync(join(out, 'run.json'), 'utf8');
    const weights = readFileSync(join(out, 'model', 'model.safetensors'));
    for (const [field, value, message] of [
      ['microBatch', 0, /settings\.microBatch must be an integer from 1 up, got 0/],
      ['lr', 'abc', /settings\.lr must be a number in \[0, Infinity\], got "abc"/],
      ['batchSize', -1, /settings\.batchSize must be an integer from 1 up, got -1/],
      ['dropout', 2, /settings\.dropout must be a number in \[0, 0\.99\], got 2/],
      ['optimizer', 'sgd', /settings\.optimizer must be one of "adam", "adamw", got "sgd"/],
    ] as const) {
      const bad = JSON.parse(record);
      bad.settings[field] = value;
      writeFileSync(join(out, 'run.json'), JSON.stringify(bad));
      const r = cli(['train', '--out', out, '--resume']);
      assert.equal(r.status, 1, `${field}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /run\.json: not a readable run record/);
      oneLine(r.stderr);
    }
    assert.ok(readFileSync(join(out, 'model', 'model.safetensors')).equals(weights), 'the model is left as it was');
  });
});

describe('model files: sizes, values and messages', () => {
  it('absurd sizes in config.json are one clear line, not an abort', () => {
    for (const [field, value] of [['n_layers', 1_000_000], ['vocab_size', 1e8]] as const) {
      const dir = modelCopy();
      const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      cfg[field] = value;
      writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
      const r = cli(['predict', '--model', dir, 'hello']);
      assert.equal(r.status, 1, `${field}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`config\\.json: ${field} must be an integer from`));
      oneLine(r.stderr);
    }
  });

  it('a model within the caps but too large for this machine is refused before allocating', () => {
    const dir = modelCopy();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    Object.assign(cfg, { n_layers: 31, dim: 16_384, n_heads: 16, hidden_dim: 65_536 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    const r = cli(['predict', '--model', dir, 'hello']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /describes [\d,]+ parameters \(\d+\.\d GiB of float32 weights\), more than this machine's \d+ GiB of memory allows/);
    oneLine(r.stderr);
  });

  it('non-finite weights are rejected at load with the tensor named', () => {
    const dir = modelCopy();
    const path = join(dir, 'model.safetensors');
    const buf = readFileSync(path);
    const headerLen = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.toString('utf8', 8, 8 + headerLen));
    const [begin] = header['classifier.weight'].data_offsets as number[];
    buf.writeFloatLE(NaN, 8 + headerLen + begin + 4);
    writeFileSync(path, buf);
    const r = cli(['predict', '--model', dir, 'hello']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /model\.safetensors: tensor classifier\.weight holds NaN at index 1/);
  });

  it('safetensors offsets must tile the data section: overlap, alias and gap are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const t = (a: number, b: number) => ({ dtype: 'F32', shape: [(b - a) / 4], data_offsets: [a, b] });
    const cases: [unknown, number, RegExp][] = [
      [{ a: t(0, 8), b: t(4, 12) }, 12, /overlap another tensor/],
      [{ a: t(0, 8), b: t(0, 8) }, 8, /overlap another tensor/],
      [{ a: t(0, 8), b: t(12, 16) }, 16, /leave a gap after byte 8/],
      [{ a: t(0, 8) }, 16, /the data section has 16 bytes but the tensors cover 8/],
      [{ a: null }, 0, /tensor a: header entry is not an object/],
    ];
    cases.forEach(([header, bytes, message], i) => {
      const path = join(dir, `${i}.safetensors`);
      writeFileSync(path, safetensors(header, bytes));
      assert.throws(() => readSafetensors(path), (e: Error) => message.test(e.message) && e.message.startsWith(path));
    });
    writeFileSync(join(dir, 'ok.safetensors'), safetensors({ a: t(0, 8), b: t(8, 8), c: t(8, 12) }, 12));
    assert.equal(readSafetensors(join(dir, 'ok.safetensors')).size, 3, 'zero-size tensors and exact tiling are fine');
  });

  it('a null tokenizer_config.json and an empty or binary vocab.txt are named', () => {
    const spoil = (file: string, content: string | Buffer, message: RegExp) => {
      const dir = modelCopy();
      writeFileSync(join(dir, file), content);
      assert.throws(() => loadModelDir(dir), (e: Error) => message.test(e.message) && e.message.includes(join(dir, file)));
    };
    spoil('tokenizer_config.json', 'null', /not a JSON object/);
    spoil('vocab.txt', '', /the vocabulary has no \[PAD\] token \(0 lines\)/);
    spoil('vocab.txt', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0xff, 0xfe, 0x0a]), /not a vocab\.txt/);
    spoil('vocab.txt', 'hello\nworld\n', /has no \[PAD\] token/);
  });
});

describe('command line', () => {
  const model = makeModelDir(32);

  it('a closed pipe ends tokenize and predict quietly with exit 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pipe-'));
    const jsonl = join(dir, 'in.jsonl'), texts = join(dir, 'texts.txt');
    writeFileSync(jsonl, Array.from({ length: 20_000 }, () => JSON.stringify({ text: 'god is a pixel engine' })).join('\n') + '\n');
    writeFileSync(texts, Array.from({ length: 3000 }, () => 'god is a pixel engine').join('\n') + '\n');
    for (const cmd of [`tokenize --vocab ${vocab} < ${jsonl}`, `predict --model ${model} --file ${texts}`]) {
      const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" ${CLI} ${cmd} | head -1 >/dev/null`], { encoding: 'utf8' });
      assert.equal(r.stderr, '', `${cmd}: no stack trace`);
      assert.equal(r.status, 0, cmd);
    }
  });

  it('predict --file with only blank lines is an error, and stdin is not read instead', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'blank-')), 'blank.txt');
    writeFileSync(f, '\n  \n\n');
    const r = cli(['predict', '--model', model, '--file', f], { input: 'god is a pixel\n' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /blank\.txt has no text to classify/);
  });

  it('tokenize names the right line after blank lines', () => {
    const r = cli(['tokenize', '--vocab', vocab], { input: '{"text": "god"}\n\n\nnot json\n' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /stdin line 4: not JSON/);
  });

  it('logits refuses ids outside the vocabulary (2^33 too) and mask values other than 0/1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logits-'));
    const cases: [unknown, RegExp][] = [
      [{ input_ids: [[2, 2 ** 33]] }, /input id 8589934592 at position 1 is outside the vocabulary/],
      [{ input_ids: [[2, -1]] }, /input id -1 at position 1 is outside/],
      [{ input_ids: [[2, 5]], attention_mask: [[1, 2]] }, /attention_mask\[0\]\[1\] = 2: must be 0 or 1/],
    ];
    cases.forEach(([inputs, message], i) => {
      const f = join(dir, `${i}.json`);
      writeFileSync(f, JSON.stringify(inputs));
      const r = cli(['logits', '--model', model, '--inputs', f]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, message);
    });
  });

  it('evaluate --out on an unwritable path fails before the evaluation, without hanging', () => {
    const t0 = Date.now();
    const r = cli(['evaluate', '--model', model, '--data', data, '--split', 'bydate', '--out', '/proc/bert-20news/report']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /cannot write to \/proc\/bert-20news\/report/);
    assert.ok(Date.now() - t0 < 60_000);
  });
});

describe('server under slow clients', () => {
  /** Opens a connection that sends complete headers, then stalls its body. */
  const stall = (port: number): Promise<Socket> => new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write('POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"te');
      resolve(s);
    });
    s.on('error', () => undefined);
    s.resume();  // read what the server sends, so that its close is seen
  });

  it('200 stalled bodies: health and classify answer within 1 s, and the stalled ones are cut off after the timeout', async () => {
    const classifier = Classifier.load(loadModelDir(makeModelDir(32)));
    const app = buildServer(classifier, { ...DEFAULT_SERVER_OPTIONS, modelName: 'fixture', requestTimeoutMs: 1500 });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const port = Number(new URL(base).port);
    try {
      const sockets = await Promise.all(Array.from({ length: 200 }, () => stall(port)));
      let closed = 0;
      sockets.forEach((s) => s.on('close', () => closed++));
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        assert.equal((await fetch(`${base}/healthz`)).status, 200);
        const c = await fetch(`${base}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"texts": ["god is a pixel"]}' });
        assert.equal(c.status, 200);
        assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms`);
      }
      const deadline = Date.now() + 5000;
      while (closed < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(closed, 200, 'every stalled connection freed within the timeout (plus the 1 s check interval)');
    } finally {
      await app.close();
    }
  });

  it('Expect: 100-continue over the body limit gets 413 before the body', async () => {
    const classifier = Classifier.load(loadModelDir(makeModelDir(32)));
    const app = buildServer(classifier, { ...DEFAULT_SERVER_OPTIONS, modelName: 'fixture', bodyLimit: 4096 });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const reply = await new Promise<string>((resolve) => {
        const s = connect(Number(new URL(base).port), '127.0.0.1', () => {
          s.write('POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n');
        });
        let got = '';
        s.on('data', (d) => {
          got += d.toString();
          if (got.includes('\r\n\r\n')) {
            s.destroy();
            resolve(got);
          }
        });
      });
      assert.match(reply, /^HTTP\/1\.1 413 /);
    } finally {
      await app.close();
    }
  });

  it('SIGTERM with a request still open exits within the drain time', async () => {
    const { child, port } = await serve(makeModelDir(32), 1000);
    const s = await stall(port);
    const t0 = Date.now();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    s.destroy();
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 3000, `exited after ${Date.now() - t0} ms`);
  });
});

describe('server drain', () => {
  it('SIGTERM: every request whose headers were sent before it is answered, with Connection: close, on keep-alive connections', async () => {
    const { child, port } = await serve(makeModelDir(512), 10_000);
    const post = (texts: string[]) => {
      const body = JSON.stringify({ texts });
      return `POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    const small = post(['the orbit of the engine']);
    // A request that keeps the server busy for a while (64 texts of 512 tokens).
    const heavy = post(Array.from({ length: 64 }, (_, i) => `the orbit ${i} of the engine `.repeat(80)));
    // Five keep-alive connections, each with one request answered; their texts, as they come.
    const clients = await Promise.all(Array.from({ length: 5 }, () => new Promise<{ s: Socket; got: () => string; closed: Promise<void> }>((resolve) => {
      let got = '';
      const s = connect(port, '127.0.0.1', () => s.write(small));
      const closed = new Promise<void>((r) => s.on('close', () => r()));
      s.on('error', () => undefined);  // a reset shows in the statuses below
      s.on('data', (d) => {
        got += d.toString();
        if (got.includes('"results"')) resolve({ s, got: () => got, closed });
      });
    })));
    const [busy, ...waiting] = clients;
    busy.s.write(heavy);
    await new Promise((r) => setTimeout(r, 30));
    // While the server works on the heavy request, four more are sent in full, then the signal.
    await Promise.all(waiting.map(({ s }) => new Promise<void>((r) => s.write(small, () => r()))));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    await Promise.all(clients.map((c) => c.closed));
    assert.equal(code, 0);
    for (const { got } of clients) {
      const replies = [...got().matchAll(/HTTP\/1\.1 (\d{3}) [^]*?\r\n\r\n/g)].map((m) => m[0]);
      assert.deepEqual(replies.map((r) => r.slice(9, 12)), ['200', '200'], 'every request sent before SIGTERM is answered');
      if (got !== busy.got) assert.match(replies[1], /connection: close/i, 'those answered after it, with Connection: close');
    }
  });
});

describe('downloads', () => {
  it('fetches 20 Newsgroups over https from scikit-learn\'s mirror, pinned to its sha256', () => {
    const env = { ...process.env };
    delete env.BERT20NEWS_DATA_URL;
    const r = spawnSync(process.execPath, ['-p', `require(${JSON.stringify(join(__dirname, '..', 'src', 'io', 'download.js'))}).SOURCES.newsgroups`], { encoding: 'utf8', env });
    assert.equal(r.stdout.trim(), 'https://ndownloader.figshare.com/files/5975967');
    assert.equal(PINNED_SHA256.newsgroups, '8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610');
    assert.equal(PINNED_SHA256.vocab, '07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3');
  });

  it('a download that is not the pinned file (an HTML page with status 200) is an error and is never cached', async () => {
    const server = createServer((_req, res) => res.end('<html>mirror moved</html>'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const cache = mkdtempSync(join(tmpdir(), 'cache-'));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/archive.tar.gz`;
    const prev = process.env.BERT20NEWS_CACHE;
    process.env.BERT20NEWS_CACHE = cache;
    try {
      await assert.rejects(cachedDownload(url, 'archive.tar.gz', '--data <path>', PINNED_SHA256.newsgroups),
        /is not the expected file \(sha256 [0-9a-f]{64}, expected 8f1b2514.*nothing was cached: give a local copy with --data/);
      assert.ok(!existsSync(join(cache, 'archive.tar.gz')));
      // The vocabulary that train --init scratch fetches is pinned the same way.
      // (A child process, run asynchronously: this process serves its download.)
      const child = spawn(process.execPath, [CLI, 'train', '--data', data, '--init', 'scratch', '--out', join(cache, 'run')], {
        env: { ...process.env, BERT20NEWS_CACHE: cache, HF_ENDPOINT: `http://127.0.0.1:${(server.address() as { port: number }).port}` },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      const r = { status: code, stderr };
      assert.equal(r.status, 1);
      assert.match(r.stderr, /vocab\.txt is not the expected file .*give a local copy with --vocab/);
      assert.ok(!existsSync(join(cache, 'hub', 'distilbert-base-uncased', 'vocab.txt')));
    } finally {
      if (prev === undefined) delete process.env.BERT20NEWS_CACHE;
      else process.env.BERT20NEWS_CACHE = prev;
      server.close();
    }
  });
});
