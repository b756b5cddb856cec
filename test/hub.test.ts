import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveModel } from '../src/io/hub';
import { loadModelDir } from '../src/model/model_dir';
import { makeModelDir } from './fixtures';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const COMMIT = 'a'.repeat(40);
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Environment of huggingface_hub pointed at the stand-in hub and a fresh cache. */
function useHub(endpoint: string, cache: string, extra: Record<string, string | undefined> = {}): () => void {
  const saved = { ...process.env };
  Object.assign(process.env, { HF_ENDPOINT: endpoint, HF_HUB_CACHE: cache, ...extra });
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete process.env[k];
  return () => {
    for (const k of ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HUB_OFFLINE', 'HF_TOKEN']) delete process.env[k];
    Object.assign(process.env, saved);
  };
}

describe('models by hub id, in the Hugging Face cache (a stand-in hub on loopback)', () => {
  const model = makeModelDir(32);
  const files = new Map(readdirSync(model).map((f) => [f, readFileSync(join(model, f))]));
  const weights = files.get('model.safetensors')!;
  const lfs = sha256(weights);
  const seen: { path: string; range?: string; auth?: string }[] = [];
  let dropNext = true;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    seen.push({ path, range: req.headers.range, auth: req.headers.authorization });
    const hub = /^\/(org\/tiny|gated\/model|org\/none)\/resolve\/main\/(.+)$/.exec(path);
    if (hub && hub[1] === 'gated/model') return void res.writeHead(401).end();
    if (hub && hub[1] === 'org/tiny' && hub[2] === 'model.safetensors') {
      // LFS files: the hub answers with a redirect to its CDN and the file's sha256 as ETag.
      return void res.writeHead(302, { location: `/cdn/${lfs}`, 'x-repo-commit': COMMIT, 'x-linked-etag': `"${lfs}"`, 'x-linked-size': String(weights.length) }).end();
    }
    if (hub && hub[1] === 'org/tiny' && files.has(hub[2])) {
      const body = files.get(hub[2])!;
      return void res.writeHead(200, { etag: `"${sha1(body)}"`, 'x-repo-commit': COMMIT, 'content-length': body.length }).end(body);
    }
    if (path === `/cdn/${lfs}`) {
      const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (from > 0) return void res.writeHead(206, { 'content-length': weights.length - from }).end(weights.subarray(from));
      res.writeHead(200, { 'content-length': weights.length });
      if (dropNext) {
        // The connection drops halfway through the file.
        dropNext = false;
        res.write(weights.subarray(0, weights.length >> 1), () => res.socket?.destroy());
        return;
      }
      return void res.end(weights);
    }
    res.writeHead(404).end();
  });
  let endpoint = '';
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  it('downloads into the cache layout, resumes a dropped download, and is used offline afterwards', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hf-'));
    const restore = useHub(endpoint, cache, { HF_TOKEN: 'hf_secret', HF_HUB_OFFLINE: undefined });
    try {
      await assert.rejects(resolveModel('org/tiny', '--model <folder>'), /broke off at byte \d+.*run the command again to resume it/);
      const blobs = join(cache, 'models--org--tiny', 'blobs');
      assert.ok(existsSync(join(blobs, `${lfs}.incomplete`)), 'the partial blob is kept');
      const snap = await resolveModel('org/tiny', '--model <folder>');
      assert.equal(snap, join(cache, 'models--org--tiny', 'snapshots', COMMIT));
      assert.equal(readFileSync(join(cache, 'models--org--tiny', 'refs', 'main'), 'utf8'), COMMIT);
      assert.equal(readlinkSync(join(snap, 'model.safetensors')), join('..', '..', 'blobs', lfs));
      assert.equal(readlinkSync(join(snap, 'config.json')), join('..', '..', 'blobs', sha1(files.get('config.json')!)));
      assert.ok(readFileSync(join(snap, 'model.safetensors')).equals(weights));
      assert.ok(seen.some((s) => s.path === `/cdn/${lfs}` && s.range === `bytes=${weights.length >> 1}-`), 'resumed with a Range request');
      assert.ok(seen.filter((s) => s.path.startsWith('/org/')).every((s) => s.auth === 'Bearer hf_secret'), 'HF_TOKEN goes to the hub');
      assert.ok(seen.filter((s) => s.path.startsWith('/cdn/')).every((s) => s.auth === undefined), 'and not to the CDN');
      assert.ok(!seen.some((s) => s.path.endsWith('/tf_model.h5') || s.path.endsWith('/tokenizer.json')), 'safetensors and vocab.txt found first');
      assert.equal(loadModelDir(snap).config.dim, 16);
    } finally {
      restore();
    }
    // Offline, in another process: the cache alone.
    const r = spawnSync(process.execPath, [CLI, 'predict', '--model', 'org/tiny', '--top-k', '1', 'god'], {
      encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' },
    });
    assert.equal(r.status, 0, r.stderr);
    const miss = spawnSync(process.execPath, [CLI, 'predict', '--model', 'org/other', 'god'], {
      encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' },
    });
    assert.equal(miss.status, 1);
    assert.match(miss.stderr, /org\/other \(revision main\) is not in the Hugging Face cache .* HF_HUB_OFFLINE is set; give a folder with --model/);
  });

  it('a gated repo asks for HF_TOKEN; a missing model is named', async () => {
    const restore = useHub(endpoint, mkdtempSync(join(tmpdir(), 'hf-')), { HF_HUB_OFFLINE: undefined });
    try {
      await assert.rejects(resolveModel('gated/model', '--model <folder>'), /gated\/model is gated or private \(HTTP 401 .*set HF_TOKEN/);
      await assert.rejects(resolveModel('org/none', '--model <folder>'), /no model org\/none \(revision main\) on http:\/\/127\.0\.0\.1:\d+: config\.json not found/);
    } finally {
      restore();
    }
  });

  it('reads a cache folder written in huggingface_hub\'s layout (another revision, plain files)', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hf-'));
    const commit = 'b'.repeat(40);
    const snap = join(cache, 'models--distilbert--tiny', 'snapshots', commit);
    mkdirSync(snap, { recursive: true });
    mkdirSync(join(cache, 'models--distilbert--tiny', 'refs'));
    writeFileSync(join(cache, 'models--distilbert--tiny', 'refs', 'v1.0'), commit);
    for (const [f, b] of files) writeFileSync(join(snap, f), b);
    const restore = useHub('http://127.0.0.1:9', cache, { HF_HUB_OFFLINE: '1' });
    try {
      assert.equal(await resolveModel('distilbert/tiny', '--model <folder>', 'v1.0'), snap);
      await assert.rejects(resolveModel('distilbert/tiny', '--model <folder>'), /not in the Hugging Face cache/);
    } finally {
      restore();
    }
  });
});
