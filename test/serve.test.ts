import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { FastifyInstance } from 'fastify';
import { engine } from '../src/engine/native';
import { loadModelDir } from '../src/model/model_dir';
import { Classifier } from '../src/pipeline/classifier';
import { explain } from '../src/pipeline/explain';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../src/serve/server';
import { makeModelDir, NEWSGROUPS } from './fixtures';

describe('HTTP API over loopback', () => {
  let app: FastifyInstance;
  let base = '';
  let classifier: Classifier;
  before(async () => {
    classifier = Classifier.load(loadModelDir(makeModelDir(32)));
    app = buildServer(classifier, { ...DEFAULT_SERVER_OPTIONS, modelName: 'fixture', maxTexts: 8, bodyLimit: 4096 });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => app.close());

  const post = (body: string, type = 'application/json') => fetch(`${base}/v1/classify`, { method: 'POST', headers: { 'content-type': type }, body });

  it('health, labels and the page', async () => {
    assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
    assert.deepEqual(((await (await fetch(`${base}/v1/labels`)).json()) as { labels: string[] }).labels, NEWSGROUPS);
    const page = await fetch(`${base}/`);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<textarea id="text"/);
  });

  it('classifies: ranked labels equal to the engine called directly, top_k, truncation flag', async () => {
    const long = 'the '.repeat(100);
    const res = await post(JSON.stringify({ texts: ['god is a pixel', long], top_k: 3 }));
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: { predictions: { label: string; score: number }[]; truncated: boolean }[] };
    assert.equal(body.results.length, 2);
    const direct = classifier.classify(['god is a pixel', long], 3);
    body.results.forEach((r, i) => {
      assert.equal(r.predictions.length, 3);
      assert.deepEqual(r.predictions.map((p) => p.label), direct[i].predictions.map((p) => p.label));
      r.predictions.forEach((p, k) => assert.ok(Math.abs(p.score - direct[i].predictions[k].score) < 1e-6));
    });
    assert.deepEqual(body.results.map((r) => r.truncated), [false, true]);
  });

  it('bad JSON, wrong types, empty, too many and oversized input get a 4xx JSON error', async () => {
    const cases: [string, number, string?][] = [
      ['{bad', 400],
      ['{"texts": "one"}', 400],
      ['{"texts": [1]}', 400],
      ['{"texts": []}', 400],
      ['{"texts": [""]}', 400],
      ['{"texts": ["  \\n "]}', 400],
      ['{"texts": ["a"], "top_k": 0}', 400],
      ['{"texts": ["a"], "top_k": "3"}', 400],
      ['{"text": ["a"]}', 400],
      [JSON.stringify({ texts: Array(9).fill('a') }), 400],
      [JSON.stringify({ texts: ['a'.repeat(5000)] }), 413],
      ['texts=a', 415, 'application/x-www-form-urlencoded'],
    ];
    for (const [body, status, type] of cases) {
      const res = await post(body, type);
      assert.equal(res.status, status, body.slice(0, 40));
      const j = (await res.json()) as { statusCode: number; message: string };
      assert.equal(j.statusCode, status);
      assert.ok(j.message.length > 0);
    }
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await post('{"texts": ["still alive"]}')).status, 200, 'the server keeps serving');
  });

  it('concurrent requests are micro-batched and each gets its own answer', async () => {
    const texts = Array.from({ length: 24 }, (_, i) => `post number ${i} about ${['god', 'orbit', 'engine'][i % 3]}`);
    const answers = await Promise.all(texts.map((t) => post(JSON.stringify({ texts: [t], top_k: 20 })).then((r) => r.json())));
    const direct = classifier.classify(texts);
    answers.forEach((a, i) => {
      const got = (a as { results: { predictions: { label: string; score: number }[] }[] }).results[0].predictions;
      assert.deepEqual(got.map((p) => p.label), direct[i].predictions.map((p) => p.label));
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^process_resident_memory_bytes \d+/m);
    assert.match(metrics, /bert20news_http_requests_total\{route="\/v1\/classify",status="400"\} \d+/);
    // Some engine batch held more than one text: requests were batched together.
    const batches = Number(/bert20news_engine_batch_texts_count (\d+)/.exec(metrics)![1]);
    const textsTotal = Number(/bert20news_texts_classified_total (\d+)/.exec(metrics)![1]);
    assert.ok(batches < textsTotal, `${batches} engine batches for ${textsTotal} texts`);
  });
});

describe('explanations over HTTP (POST /v1/explain, on a thread of their own)', () => {
  let app: FastifyInstance;
  let base = '';
  let classifier: Classifier;
  // A model large enough that integrated gradients over 512 tokens take a while.
  const dir = makeModelDir(512, { dim: 64, hidden_dim: 256, n_heads: 4, n_layers: 4 });
  before(async () => {
    classifier = Classifier.load(dir);
    app = buildServer(classifier, { ...DEFAULT_SERVER_OPTIONS, modelName: 'fixture', explainSource: { dir, load: {} } });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => app.close());

  const explainPost = (body: unknown) => fetch(`${base}/v1/explain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  type Body = { results: { explanation: { word: string; start: number; end: number; segment: number; score: number }[]; explained: { label: string; method: string } }[] };

  it('gives each word with its span and score, as explain() does on this thread', async () => {
    const text = 'The orbit of a god, the pixel engine.';
    const res = await explainPost({ texts: [text], method: 'ig', steps: 8 });
    assert.equal(res.status, 200);
    const r = ((await res.json()) as Body).results[0];
    const direct = classifier.classify([text], 1)[0].predictions[0].label;
    assert.equal(r.explained.label, direct);
    assert.equal(r.explained.method, 'ig');
    for (const w of r.explanation) assert.equal(text.slice(w.start, w.end), w.word);
    assert.deepEqual(r.explanation.map((w) => w.word), ['The', 'orbit', 'of', 'a', 'god', ',', 'the', 'pixel', 'engine', '.']);
    const here = explain(classifier, text, { method: 'ig', steps: 8 });
    r.explanation.forEach((w, k) => assert.ok(Math.abs(w.score - here.words[k].score) < 1e-4, `${w.word}: ${w.score} vs ${here.words[k].score}`));
  });

  it('bad input gets a 4xx JSON error, as classify does', async () => {
    const labels = classifier.labels;
    for (const body of [{}, { texts: [] }, { texts: 'x' }, { texts: [''] }, { texts: ['  '] }, { texts: Array(9).fill('x') }, { texts: ['x'], steps: 65 },
      { texts: ['x'], steps: 0 }, { texts: ['x'], method: 'lime' }, { texts: ['x'], label: 'nope' }, { texts: ['x'], steps: '8' }]) {
      const res = await explainPost(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(((await res.json()) as { statusCode: number }).statusCode, 400);
    }
    assert.equal((await explainPost({ texts: ['x'], label: labels[3] })).status, 200);
  });

  it('classify requests sent while an explanation runs are answered before it ends', async () => {
    const long = 'the engine of the orbit is a pixel god '.repeat(80);
    let explainedAt = 0;
    const pending = explainPost({ texts: [long, long], method: 'ig', steps: 64 }).then((r) => {
      explainedAt = performance.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    const answered: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: ['god is a pixel'] }) });
      assert.equal(res.status, 200);
      answered.push(performance.now());
    }
    assert.equal(explainedAt, 0, 'the explanation was still running when the five classify requests were answered');
    assert.equal((await pending).status, 200);
    assert.ok(answered.every((t) => t < explainedAt));
  });
});

describe('the explanation thread yields the CPU', () => {
  it('lowerThreadPriority sets the calling thread\'s nice value alone, and refuses values outside 0..19', async () => {
    const nice = () => Number(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ')[16]);
    const before = nice();
    const code = `const { parentPort } = require('node:worker_threads'); const { readFileSync } = require('node:fs');
      const nice = () => Number(readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ')[16]);
      const ok = require(${JSON.stringify(join(__dirname, '..', 'src', 'engine', 'native.js'))}).engine().lowerThreadPriority(19);
      parentPort.postMessage({ ok, nice: nice() });`;
    const got = await new Promise<{ ok: boolean; nice: number }>((resolve, reject) => new Worker(code, { eval: true }).once('message', resolve).once('error', reject));
    assert.deepEqual(got, { ok: true, nice: 19 });
    assert.equal(nice(), before, 'this thread keeps its own');
    assert.throws(() => engine().lowerThreadPriority(20), /nice must be from 0 to 19/);
  });
});
