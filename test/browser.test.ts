/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FastifyInstance } from 'fastify';
import { chromium } from 'playwright-core';
import { loadModelDir } from '../src/model/model_dir';
import { Classifier } from '../src/pipeline/classifier';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../src/serve/server';
import { makeModelDir } from './fixtures';

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
});
