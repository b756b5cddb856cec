import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cachedDownload } from '../src/io/download';
import { checkRevision, resolveModel } from '../src/io/hub';
import { makeModelDir } from './fixtures';

const COMMIT = 'c'.repeat(40);
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

/** Every file and link under a folder with its content (or target): what "nothing changed" compares. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name), st = lstatSync(p), rel = relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[rel + '/'] = '';
        walk(p);
      } else out[rel] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** The tree of `root` less what lies in its cache folder. */
const outsideCache = (root: string) => Object.fromEntries(Object.entries(tree(root)).filter(([k]) => !k.startsWith('cache')));

describe('a hostile hub cannot write outside the cache, and oversized answers are refused (loopback)', () => {
  const model = makeModelDir(32);
  const files = new Map(readdirSync(model).map((f) => [f, readFileSync(join(model, f))]));
  const big = Buffer.alloc(60 * 2 ** 20, 0x20);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/([\w-]+)\/([\w-]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(404).end();
    const [, org, name, , file] = m;
    const body = files.get(file);
    if (!body) return void res.writeHead(404).end();
    const plain = { etag: `"${sha1(body)}"`, 'x-repo-commit': COMMIT, 'content-length': body.length };
    if (org === 'evil' && name === 'commit') return void res.writeHead(200, { ...plain, 'x-repo-commit': '../../../victim' }).end(body);
    if (org === 'evil' && name === 'etag') return void res.writeHead(200, { ...plain, etag: '"../../../victim/owned"' }).end(body);
    if (org === 'evil' && name === 'linked') return void res.writeHead(302, { location: `/org/tiny/resolve/main/${file}`, 'x-repo-commit': COMMIT, 'x-linked-etag': '"../../../../victim/owned"' }).end();
    if (org === 'evil' && name === 'bigconfig' && file === 'config.json') return void res.writeHead(200, { ...plain, etag: `"${'e'.repeat(40)}"`, 'content-length': big.length }).end(big);
    if (org === 'slow' && file === 'model.safetensors') {
      // The whole file takes about 2.4 s, a chunk every 0.3 s: longer than the idle timeout, never idle that long.
      res.writeHead(200, plain);
      const step = Math.ceil(body.length / 8);
      let k = 0;
      const timer = setInterval(() => {
        res.write(body.subarray(k * step, (k + 1) * step));
        if (++k === 8) {
          clearInterval(timer);
          res.end();
        }
      }, 300);
      return;
    }
    if (org === 'stall' && file === 'model.safetensors') {
      // Half the file, then nothing: the connection stays open.
      res.writeHead(200, plain);
      res.write(body.subarray(0, body.length >> 1));
      return;
    }
    if (org === 'org' && name === 'nosize' && file === 'model.safetensors') {
      // A redirect that carries no X-Linked-Size, with the redirect's own Content-Length: 0.
      return void res.writeHead(302, { location: `/org/tiny/resolve/main/${file}`, 'x-repo-commit': COMMIT, 'x-linked-etag': `"${sha1(body)}"`, 'content-length': 0 }).end();
    }
    res.writeHead(200, plain).end(body);
  });
  let endpoint = '';
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  /** A root holding the cache and a user's folder beside it; the hub's env pointed at both for `run`. */
  async function inRoot(run: () => Promise<unknown>): Promise<{ root: string; before: Record<string, string>; after: Record<string, string> }> {
    const root = mkdtempSync(join(tmpdir(), 'hub-root-'));
    mkdirSync(join(root, 'victim'));
    writeFileSync(join(root, 'victim', 'config.json'), 'the user\'s own file');
    const saved = { ...process.env };
    Object.assign(process.env, { HF_ENDPOINT: endpoint, HF_HUB_CACHE: join(root, 'cache') });
    delete process.env.HF_HUB_OFFLINE;
    try {
      const b = outsideCache(root);
      await run();
      return { root, before: b, after: outsideCache(root) };
    } finally {
      process.env = saved;
    }
  }

  it('X-Repo-Commit, ETag and X-Linked-Etag with ../ are refused and touch nothing outside the cache', async () => {
    for (const [id, header] of [['evil/commit', /X-Repo-Commit "\.\.\/\.\.\/\.\.\/victim" is not a commit id/], ['evil/etag', /ETag "\.\.\/\.\.\/\.\.\/victim\/owned" is not a git blob id/], ['evil/linked', /ETag "\.\.\/\.\.\/\.\.\/\.\.\/victim\/owned" is not a git blob id/]] as const) {
      const r = await inRoot(() => assert.rejects(resolveModel(id, '--model <folder>'), header));
      assert.deepEqual(r.after, r.before, `${id}: nothing outside the cache created, changed or deleted`);
    }
  });

  it('a revision with ../ is refused before any file is named; refs/pr/3 and tags are revisions', async () => {
    const r = await inRoot(() => assert.rejects(resolveModel('org/tiny', '--model <folder>', '../../../victim/ref'), /--revision "\.\.\/\.\.\/\.\.\/victim\/ref" is not a branch, tag or commit name/));
    assert.deepEqual(r.after, r.before);
    for (const bad of ['/etc/passwd', 'a\\b', 'x\ny', 'a..b', '.hidden', 'v1.lock', 'main/']) assert.throws(() => checkRevision(bad), /is not a branch, tag or commit name/, bad);
    for (const good of ['main', 'v1.0', 'refs/pr/3', COMMIT]) assert.equal(checkRevision(good), good);
    const pr = await inRoot(() => resolveModel('org/tiny', '--model <folder>', 'refs/pr/3'));
    assert.deepEqual(pr.after, pr.before);
    assert.equal(readFileSync(join(pr.root, 'cache', 'models--org--tiny', 'refs', 'refs', 'pr', '3'), 'utf8'), COMMIT);
  });

  it('a 60 MB config.json is refused before it is downloaded, and nothing of it is cached', async () => {
    const r = await inRoot(() => assert.rejects(resolveModel('evil/bigconfig', '--model <folder>'), /announces 62914560 bytes, over the 52428800-byte limit for config\.json; nothing was cached/));
    const blobs = join(r.root, 'cache', 'models--evil--bigconfig', 'blobs');
    assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], []);
  });

  it('weights over BERT20NEWS_MAX_DOWNLOAD_BYTES are refused; a redirect without X-Linked-Size takes the file\'s own size', async () => {
    process.env.BERT20NEWS_MAX_DOWNLOAD_BYTES = '1000';
    try {
      const r = await inRoot(() => assert.rejects(resolveModel('org/tiny', '--model <folder>'), /over the 1000-byte limit for model\.safetensors; nothing was cached/));
      assert.ok(!readdirSync(join(r.root, 'cache', 'models--org--tiny', 'blobs')).some((f) => f.endsWith('.incomplete')));
    } finally {
      delete process.env.BERT20NEWS_MAX_DOWNLOAD_BYTES;
    }
    const ok = await inRoot(async () => {
      const snap = await resolveModel('org/nosize', '--model <folder>');
      assert.ok(readFileSync(join(snap, 'model.safetensors')).equals(files.get('model.safetensors')!));
    });
    assert.deepEqual(ok.after, ok.before);
  });

  it('downloads time out when idle, not after a fixed time: a slow file completes, a stalled one breaks off and is kept to resume', async () => {
    process.env.BERT20NEWS_DOWNLOAD_IDLE_S = '1';
    try {
      const slow = await inRoot(async () => {
        const snap = await resolveModel('slow/model', '--model <folder>');
        assert.ok(readFileSync(join(snap, 'model.safetensors')).equals(files.get('model.safetensors')!));
      });
      assert.deepEqual(slow.after, slow.before);
      const t0 = Date.now();
      const stalled = await inRoot(() => assert.rejects(resolveModel('stall/model', '--model <folder>'), /the download of .*model\.safetensors broke off at byte \d+ \(no byte for 1 s\); run the command again to resume it/));
      assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
      assert.ok(readdirSync(join(stalled.root, 'cache', 'models--stall--model', 'blobs')).some((f) => f.endsWith('.incomplete')), 'the part is kept for the resume');
      process.env.BERT20NEWS_CACHE = mkdtempSync(join(tmpdir(), 'cache-'));
      const t1 = Date.now();
      await assert.rejects(cachedDownload(`${endpoint}/stall/model/resolve/main/model.safetensors`, 'stalled.bin', '--data <file>'), /cannot download .* \(no byte for 1 s\); give a local copy with --data <file>/);
      assert.ok(Date.now() - t1 < 10_000);
    } finally {
      delete process.env.BERT20NEWS_DOWNLOAD_IDLE_S;
      delete process.env.BERT20NEWS_CACHE;
    }
  });
});
