import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, statfsSync, statSync, symlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { SingleBar } from 'cli-progress';
import { writeFileAtomic } from './atomic';
import { IdleTimeout, idleTimeout } from './idle';
import { shardFiles, WEIGHTS_FILES } from './weights_files';

/**
 * Hugging Face hub models by id, in the Hugging Face cache itself (the layout huggingface_hub
 * writes and reads): `<cache>/models--org--name/{blobs/<etag>, snapshots/<commit>/<file> -> blob,
 * refs/<revision>}`, so that a model Python downloaded is used here offline and ours is found by
 * Python. Environment as huggingface_hub: HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE or HF_HOME,
 * HF_HUB_OFFLINE.
 */

/** The files of a model folder, in the order they are looked for. */
const REQUIRED = ['config.json'];
const TOKENIZER = ['vocab.txt', 'tokenizer.json'];
const OPTIONAL = ['tokenizer_config.json'];

export function hubCacheDir(): string {
  return process.env.HF_HUB_CACHE ?? join(process.env.HF_HOME ?? join(homedir(), '.cache', 'huggingface'), 'hub');
}

/**
 * What a hub download accepts (docs/reliability.md): JSON and tokenizer files up to 50 MB; weights
 * up to the size the hub announces, under BERT20NEWS_MAX_DOWNLOAD_BYTES (default 20 GB) and the
 * cache disk's free space. The hub is a network peer: its headers are checked before they name a path.
 */
const SMALL_FILE_BYTES = 50 * 2 ** 20;
const maxWeightsBytes = (): number => {
  const v = process.env.BERT20NEWS_MAX_DOWNLOAD_BYTES;
  if (v === undefined) return 20e9;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BERT20NEWS_MAX_DOWNLOAD_BYTES must be a positive whole number of bytes, not ${JSON.stringify(v)}`);
  return n;
};

/** A commit id as git writes it: 40 lowercase hex characters. */
const COMMIT_ID = /^[0-9a-f]{40}$/;
/** A blob id: a git blob's sha1 (40 hex) or an LFS file's sha256 (64 hex). */
const BLOB_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * A revision as git accepts a ref name (git check-ref-format: `main`, `v1.0`, `refs/pr/3`), or a
 * commit id; anything else, `..` and absolute paths above all, is refused before it names a file.
 */
export function checkRevision(revision: string): string {
  const bad = revision === '' || revision === '@' || /[\x00-\x20\x7f~^:?*[\\]/.test(revision) || revision.includes('..') || revision.includes('@{') ||
    revision.startsWith('/') || revision.endsWith('/') || revision.endsWith('.') || revision.includes('//') ||
    revision.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock'));
  if (bad) throw new Error(`--revision ${JSON.stringify(revision)} is not a branch, tag or commit name`);
  return revision;
}

/** `path` after resolution, which must lie inside `root`: a path the hub's answers built is checked before use. */
function inside(root: string, path: string): string {
  const r = resolve(root), p = resolve(path);
  if (!p.startsWith(r + sep)) throw new Error(`${path} is outside the cache folder ${root}: refused`);
  return p;
}

const offline = (): boolean => ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
const endpoint = (): string => (process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');

/** A folder as it is, or a model id (`org/name`, `name`) resolved through the cache and the hub. */
export async function resolveModel(idOrDir: string, localFlag: string, revision = 'main'): Promise<string> {
  if (existsSync(idOrDir) && statSync(idOrDir).isDirectory()) return idOrDir;
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(idOrDir) || idOrDir.split('/').some((p) => /^\.+$/.test(p))) throw new Error(`${idOrDir} is neither a folder nor a Hugging Face model id`);
  checkRevision(revision);
  const repo = join(hubCacheDir(), `models--${idOrDir.replace('/', '--')}`);
  if (offline()) {
    const snap = cachedSnapshot(repo, revision);
    if (!snap) throw new Error(`${idOrDir} (revision ${revision}) is not in the Hugging Face cache ${hubCacheDir()} and HF_HUB_OFFLINE is set; give a folder with ${localFlag}`);
    return snap;
  }
  return download(idOrDir, repo, revision, localFlag);
}

/** The snapshot folder of a cached revision that holds a whole model, if any. */
function cachedSnapshot(repo: string, revision: string): string | undefined {
  const ref = join(repo, 'refs', revision);
  const commit = existsSync(ref) ? readFileSync(ref, 'utf8').trim() : COMMIT_ID.test(revision) ? revision : undefined;
  if (!commit || !COMMIT_ID.test(commit)) return undefined;
  const snap = join(repo, 'snapshots', commit);
  const has = (files: string[]) => files.some((f) => existsSync(join(snap, f)));
  const index = WEIGHTS_FILES.find((f) => existsSync(join(snap, f)));
  const shardsThere = !index?.endsWith('.index.json') || shardFiles(join(snap, index)).every((f) => existsSync(join(snap, f)));
  return REQUIRED.every((f) => existsSync(join(snap, f))) && index && shardsThere && has(TOKENIZER) ? snap : undefined;
}

interface Remote {
  /** The final response (after redirects), or undefined for 404. */
  res?: Response;
  /** Its idle timeout: touched for every chunk of the body. */
  idle?: IdleTimeout;
  commit?: string;
  etag?: string;
  size?: number;
}

/** GET with redirects followed by hand, keeping the hub's own headers (commit, ETag, size) from the first answer. */
async function request(url: string, headers: Record<string, string>, id: string, localFlag: string): Promise<Remote> {
  let res: Response;
  const idle = idleTimeout();
  try {
    res = await fetch(url, { headers, redirect: 'manual', signal: idle.signal });
  } catch (e) {
    idle.clear();
    const err = e as Error & { cause?: Error };
    throw new Error(`cannot reach ${url} (${err.cause?.message ?? err.message}); give a folder with ${localFlag}, or set HF_HUB_OFFLINE=1 to use the cache`);
  }
  if (res.status === 404) {
    idle.clear();
    return {};
  }
  if (res.status === 401 || res.status === 403) {
    throw new Error(`${id} is gated or private (HTTP ${res.status} from ${url}): set HF_TOKEN to a token with access`);
  }
  const h = res.headers;
  const etag = (h.get('x-linked-etag') ?? h.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  const linked = h.get('x-linked-size');
  const remote: Remote = { commit: h.get('x-repo-commit') ?? undefined, etag: etag || undefined, size: linked === null ? undefined : Number(linked) };
  const redirected = res.status >= 300 && res.status < 400;
  for (let hops = 0; res.status >= 300 && res.status < 400; hops++) {
    const location = res.headers.get('location');
    if (!location || hops > 5) throw new Error(`${url}: too many or empty redirects`);
    // The CDN gets no token: only the hub itself is sent credentials.
    const plain = Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'authorization'));
    idle.touch();
    res = await fetch(new URL(location, url), { headers: plain, redirect: 'manual', signal: idle.signal });
  }
  if (!res.ok && res.status !== 206) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  // Without X-Linked-Size, the size is the file's own Content-Length: the final answer's, never a redirect's.
  if (remote.size === undefined && res.status === 200 && (!redirected || res.headers.get('content-length') !== null)) {
    const length = res.headers.get('content-length');
    if (length !== null) remote.size = Number(length);
  }
  if (remote.size !== undefined && !(Number.isSafeInteger(remote.size) && remote.size >= 0)) throw new Error(`${url}: the announced size ${JSON.stringify(linked ?? res.headers.get('content-length'))} is not a byte count: refused`);
  remote.res = res;
  remote.idle = idle;
  return remote;
}

/** Downloads what a model folder needs into the cache (resuming partial blobs) and returns its snapshot folder. */
async function download(id: string, repo: string, revision: string, localFlag: string): Promise<string> {
  const headers: Record<string, string> = process.env.HF_TOKEN ? { authorization: `Bearer ${process.env.HF_TOKEN}` } : {};
  const base = `${endpoint()}/${id}/resolve/${encodeURIComponent(revision)}`;
  let snapshot: string | undefined;
  const fetchFile = async (file: string, weights = false): Promise<boolean> => {
    const url = `${base}/${file}`;
    const probe = await request(url, headers, id, localFlag);
    if (!probe.res) return false;
    if (!probe.commit || !probe.etag) throw new Error(`${url}: the answer has no X-Repo-Commit or ETag: not a Hugging Face hub`);
    if (!COMMIT_ID.test(probe.commit)) throw new Error(`${url}: X-Repo-Commit ${JSON.stringify(probe.commit)} is not a commit id (40 hex characters): refused`);
    if (!BLOB_ID.test(probe.etag)) throw new Error(`${url}: ETag ${JSON.stringify(probe.etag)} is not a git blob id or a sha256: refused`);
    snapshot = inside(repo, join(repo, 'snapshots', probe.commit));
    const link = inside(snapshot, join(snapshot, file));
    const blob = inside(repo, join(repo, 'blobs', probe.etag));
    const limit = weights ? maxWeightsBytes() : SMALL_FILE_BYTES;
    if (!existsSync(blob)) await fetchBlob(url, probe, blob, headers, id, localFlag, file, limit);
    else await probe.res.body?.cancel();
    mkdirSync(dirname(link), { recursive: true });
    rmSync(link, { force: true });
    symlinkSync(relative(dirname(link), blob), link);
    if (revision !== probe.commit) {
      const ref = inside(repo, join(repo, 'refs', revision));
      mkdirSync(dirname(ref), { recursive: true });
      writeFileAtomic(ref, [Buffer.from(probe.commit)]);
    }
    return true;
  };
  for (const f of REQUIRED) {
    if (!(await fetchFile(f))) throw new Error(`no model ${id} (revision ${revision}) on ${endpoint()}: ${f} not found; give a folder with ${localFlag}`);
  }
  let weights: string | undefined;
  for (const f of WEIGHTS_FILES) if (!weights && (await fetchFile(f, !f.endsWith('.json')))) weights = f;
  if (!weights) throw new Error(`${id} has no weights (${WEIGHTS_FILES.join(', ')}) on ${endpoint()}`);
  if (weights.endsWith('.index.json')) {
    for (const shard of shardFiles(join(snapshot!, weights))) {
      if (!(await fetchFile(shard, true))) throw new Error(`${id}: shard ${shard} named by ${weights} is not on ${endpoint()}`);
    }
  }
  let tokenizer = false;
  for (const f of TOKENIZER) if (!tokenizer) tokenizer = await fetchFile(f);
  if (!tokenizer) throw new Error(`${id} has neither vocab.txt nor tokenizer.json on ${endpoint()}`);
  for (const f of OPTIONAL) await fetchFile(f);
  return snapshot!;
}

/**
 * One blob: written to `<blob>.incomplete` (appended to when an earlier download broke off, with a
 * Range request), checked for length, and for sha256 where the ETag is one (LFS files), then renamed.
 * A file over `limit` bytes, or over the disk's free space, is refused (announced) or cut off
 * (streamed) and nothing of it is kept.
 */
async function fetchBlob(url: string, first: Remote, blob: string, headers: Record<string, string>, id: string, localFlag: string, file: string, limit: number): Promise<void> {
  mkdirSync(dirname(blob), { recursive: true });
  const part = `${blob}.incomplete`;
  const refuse = async (why: string): Promise<never> => {
    await first.res?.body?.cancel();
    rmSync(part, { force: true });
    throw new Error(`${url}: ${why}; nothing was cached`);
  };
  if (first.size !== undefined && first.size > limit) await refuse(`the hub announces ${first.size} bytes, over the ${limit}-byte limit for ${file}`);
  const free = statfsSync(dirname(blob));
  if (first.size !== undefined && first.size > free.bavail * free.bsize) await refuse(`the hub announces ${first.size} bytes, more than the ${free.bavail * free.bsize} bytes free in ${dirname(blob)}`);
  let have = existsSync(part) ? statSync(part).size : 0;
  let res = first.res!;
  let idle = first.idle!;
  if (have > 0) {
    await res.body?.cancel();
    idle.clear();
    const again = await request(url, { ...headers, range: `bytes=${have}-` }, id, localFlag);
    res = again.res!;
    idle = again.idle!;
    if (res.status !== 206) have = 0;  // the server ignored the range: start over
  }
  const total = first.size;
  const bar = process.stderr.isTTY && total ? new SingleBar({ format: `${file} |{bar}| {value}/{total} bytes`, hideCursor: true }) : undefined;
  bar?.start(total!, have);
  const fd = openSync(part, have > 0 ? 'a' : 'w');
  let cutOff: string | undefined;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      idle.touch();
      if (have + chunk.length > limit || (total !== undefined && have + chunk.length > total)) {
        cutOff = `more than ${total !== undefined && total < limit ? `the ${total} bytes announced` : `the ${limit} bytes allowed for ${file}`}`;
        break;
      }
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
      have += chunk.length;
      bar?.update(have);
    }
  } catch (e) {
    throw new Error(`the download of ${url} broke off at byte ${have} (${(e as Error).message}); run the command again to resume it`);
  } finally {
    idle.clear();
    closeSync(fd);
    bar?.stop();
  }
  if (cutOff) {
    rmSync(part, { force: true });
    throw new Error(`${url}: the download sent ${cutOff}: refused; nothing was cached`);
  }
  if (total !== undefined && have !== total) throw new Error(`the download of ${url} has ${have} bytes, the hub announced ${total}; run the command again to resume it`);
  if (/^[0-9a-f]{64}$/.test(first.etag!)) {
    const hash = createHash('sha256');
    for await (const c of createReadStream(part)) hash.update(c as Buffer);
    const got = hash.digest('hex');
    if (got !== first.etag) {
      rmSync(part, { force: true });
      throw new Error(`the download of ${url} is corrupt (sha256 ${got}, the hub's ETag ${first.etag}); nothing was cached`);
    }
  }
  renameSync(part, blob);
}
