/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FastifyInstance } from 'fastify';
import { chromium } from 'playwright-core';
import { loadModelDir } from '../src/model/model_dir';
import { Classifier } from '../src/pipeline/classifier';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../src/serve/server';
import { makeModelDir } from './fixtures';
import { regressionMetrics } from '../src/eval/task_metrics';
import { writeTaskReport } from '../src/eval/task_report';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `needs Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

describe('web page in a real browser', { skip }, () => {
  let app: FastifyInstance;
  let base = '';
  before(async () => {
    app = buildServer(Classifier.load(loadModelDir(makeModelDir(32))), { ...DEFAULT_SERVER_OPTIONS, modelName: 'fixture' });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => app.close());

  it('types a post, clicks, and shows 20 bars whose values match the API, with the truncation notice', async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(base + '/');
      const post = 'the engine of the orbit is a pixel '.repeat(8);
      await page.fill('#text', post);
      await page.click('#classify');
      await page.waitForSelector('.bar');
      const bars = await page.$$eval('.bar', (els) => els.map((e) => ({ label: (e as HTMLElement).dataset.label!, score: Number((e as HTMLElement).dataset.score) })));
      assert.equal(bars.length, 20);
      const api = (await (await fetch(`${base}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: [post] }) })).json()) as {
        results: { predictions: { label: string; score: number }[]; truncated: boolean }[];
      };
      assert.deepEqual(bars, api.results[0].predictions);
      assert.equal(api.results[0].truncated, true);
      assert.equal(await page.isVisible('#notice'), true, 'the page says the text was truncated');
      const widths = await page.$$eval('.bar', (els) => els.map((e) => parseFloat((e as HTMLElement).style.width)));
      widths.forEach((w, i) => assert.ok(Math.abs(w - 100 * bars[i].score) < 0.01));

      // Explain: every word highlighted with the sign and score the API gives it.
      await page.fill('#text', 'The orbit of a god, the pixel engine.');
      await page.click('#explain');
      await page.waitForSelector('#why:not([hidden]) .w');
      const shown = await page.$$eval('#explanation .w', (els) => els.map((e) => ({ text: e.firstChild!.textContent!, cls: e.className, score: Number((e as HTMLElement).dataset.score), alpha: Number((e as HTMLElement).style.getPropertyValue('--a')) })));
      const why = (await (await fetch(`${base}/v1/explain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: ['The orbit of a god, the pixel engine.'] }) })).json()) as {
        results: { explanation: { word: string; score: number }[] }[];
      };
      const words = why.results[0].explanation;
      assert.deepEqual(shown.map((w) => w.text), words.map((w) => w.word));
      shown.forEach((w, k) => {
        assert.ok(Math.abs(w.score - words[k].score) < 1e-12);
        assert.equal(w.cls, `w ${words[k].score >= 0 ? 'pos' : 'neg'}`);
      });
      const strongest = shown.reduce((a, b) => (Math.abs(b.score) > Math.abs(a.score) ? b : a));
      assert.equal(strongest.alpha, 0.75, 'the strongest word has the strongest colour');
    } finally {
      await browser.close();
    }
  });

  it('multi-label and regression models: chosen labels and the value as the API gives them; a task report with its scatter plot', async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const apps: FastifyInstance[] = [];
    try {
      const serve = async (dir: string) => {
        const a = buildServer(Classifier.load(loadModelDir(dir)), { ...DEFAULT_SERVER_OPTIONS, modelName: 'task', threshold: 0.3 });
        apps.push(a);
        return a.listen({ host: '127.0.0.1', port: 0 });
      };
      const text = 'the engine of the orbit';
      const page = await browser.newPage();

      const multi = await serve(makeModelDir(32, { problem_type: 'multi_label_classification' }));
      await page.goto(multi + '/');
      assert.equal(await page.$('#explain'), null, 'no explanation for multi-label models');
      await page.fill('#text', text);
      await page.click('#classify');
      await page.waitForSelector('.bar');
      const api = (await (await fetch(`${multi}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: [text] }) })).json()) as {
        results: { predictions: { label: string; score: number }[]; labels: string[] }[];
      };
      const chosen = await page.$$eval('.row.chosen .label', (els) => els.map((e) => e.textContent));
      assert.deepEqual(chosen, api.results[0].labels);
      assert.ok(api.results[0].labels.length > 0 && api.results[0].labels.length < 20, 'a threshold of 0.3 chooses some labels, not all');
      assert.equal(await page.textContent('#chosen'), `Labels: ${api.results[0].labels.join(', ')}`);

      const regression = await serve(makeModelDir(32, { id2label: { 0: 'score' }, problem_type: 'regression' }));
      await page.goto(regression + '/');
      await page.fill('#text', text);
      await page.click('#classify');
      await page.waitForSelector('#value:not([hidden])');
      const value = ((await (await fetch(`${regression}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: [text] }) })).json()) as { results: { value: number }[] }).results[0].value;
      assert.equal(await page.textContent('#value'), `Value: ${value.toPrecision(6)}`);
      assert.equal((await page.$$('.bar')).length, 0);

      // A model trained on pairs (preprocessing.json says so): the page asks for both texts and sends the pair.
      const pairs = makeModelDir(32);
      writeFileSync(join(pairs, 'preprocessing.json'), JSON.stringify({ strip: [], max_length: 32, text_pairs: true }));
      const pairBase = await serve(pairs);
      await page.goto(pairBase + '/');
      assert.equal(await page.$('#explain'), null, 'no explanation for pairs');
      await page.fill('#text', 'the engine');
      await page.fill('#pair', 'the orbit of a god');
      await page.click('#classify');
      await page.waitForSelector('.bar');
      const pairBars = await page.$$eval('.bar', (els) => els.map((e) => ({ label: (e as HTMLElement).dataset.label!, score: Number((e as HTMLElement).dataset.score) })));
      const pairApi = (await (await fetch(`${pairBase}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: [{ text: 'the engine', text_pair: 'the orbit of a god' }] }) })).json()) as {
        results: { predictions: { label: string; score: number }[] }[];
      };
      assert.deepEqual(pairBars, pairApi.results[0].predictions);
      const single = (await (await fetch(`${pairBase}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: ['the engine the orbit of a god'] }) })).json()) as typeof pairApi;
      assert.notDeepEqual(single.results[0].predictions, pairApi.results[0].predictions, 'the page sent a pair, not one text');

      const dir = mkdtempSync(join(tmpdir(), 'report-'));
      const truth = [0, 1, 2, 3, 1], predicted = [0.2, 0.9, 2.4, 2.7, 1.1];
      writeTaskReport(dir, { title: 'regression report', split: 'five texts', seconds: 0.1, regression: { metrics: regressionMetrics(truth, predicted), truth, predicted } });
      await page.goto('file://' + join(dir, 'report.html'));
      const points = await page.$$eval('#scatter circle', (els) => els.map((e) => ({ x: Number(e.getAttribute('cx')), y: Number(e.getAttribute('cy')) })));
      assert.equal(points.length, 5);
      assert.ok(points[3].x > points[0].x && points[3].y < points[0].y, 'a larger true and predicted value sits right of and above a smaller one');
      const shot = await page.screenshot();
      assert.ok(shot.length > 1000);
    } finally {
      await browser.close();
      for (const a of apps) await a.close();
    }
  });
});

