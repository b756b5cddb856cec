import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FastifyInstance } from 'fastify';
import { loadModelDir } from '../src/model/model_dir';
import { Classifier } from '../src/pipeline/classifier';
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
