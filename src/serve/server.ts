import Fastify, { FastifyInstance } from 'fastify';
import { Classifier } from '../model/classifier';
import { MicroBatcher } from './batcher';
import { createMetrics } from './metrics';
import { pageHtml } from './page';

export interface ServerOptions {
  modelName: string;
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Most texts in one request. */
  maxTexts: number;
  /** Longest text in characters. */
  maxTextChars: number;
}

export const DEFAULT_SERVER_OPTIONS = { bodyLimit: 1 << 20, maxTexts: 64, maxTextChars: 100_000 };

/**
 * The HTTP API and web page. Bad JSON, wrong types, empty or oversized input get a 4xx JSON
 * error ({statusCode, error, message}) from schema validation; the server itself never stops.
 */
export function buildServer(classifier: Classifier, opts: ServerOptions): FastifyInstance {
  // No type coercion: "texts": "x" or "top_k": "3" are errors, not guesses.
  const app = Fastify({ bodyLimit: opts.bodyLimit, ajv: { customOptions: { coerceTypes: false } } });
  const metrics = createMetrics();
  const batcher = new MicroBatcher(classifier, opts.maxTexts, 2, (n) => metrics.batchSize.observe(n));
  const C = classifier.labels.length;

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(pageHtml(opts.modelName)));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/v1/labels', async () => ({ labels: classifier.labels }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.post<{ Body: { texts: string[]; top_k?: number } }>('/v1/classify', {
    schema: {
      body: {
        type: 'object',
        required: ['texts'],
        properties: {
          texts: { type: 'array', minItems: 1, maxItems: opts.maxTexts, items: { type: 'string', minLength: 1, maxLength: opts.maxTextChars} },
          top_k: { type: 'integer', minimum: 1, maximum: C },
        },
      },
    },
  }, async (req, reply) => {
    const { texts, top_k: topK = C } = req.body;
    const blank = texts.findIndex((t) => t.trim() === '');
    if (blank >= 0) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `body/texts/${blank} is blank` });
    const results = await batcher.classify(texts, topK);
    metrics.texts.inc(texts.length);
    metrics.truncated.inc(results.filter((r) => r.truncated).length);
    return { model: opts.modelName, results };
  });
  return app;
}
