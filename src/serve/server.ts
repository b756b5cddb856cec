import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { FastifyInstance } from 'fastify';
import { Classifier, TextInput } from '../pipeline/classifier';
import { EXPLAIN_METHODS, ExplainMethod, explanationJson } from '../pipeline/explain';
import { MicroBatcher } from './batcher';
import { ExplainBusy, ExplainQueue, ExplainSource, ExplainTimeout } from './explainer';
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
  /** Milliseconds for a whole request, body included: a client that stalls is cut off after it. */
  requestTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection is kept. */
  keepAliveTimeoutMs: number;
  /** Connections served at once; more are refused at connect. */
  maxConnections: number;
  /** Most texts in one /v1/explain request, and most integrated-gradients steps. */
  maxExplainTexts: number;
  maxExplainSteps: number;
  /** Milliseconds an explanation request may run once started. */
  explainTimeoutMs: number;
  /** The served model's folder: explanations then run on a thread of their own with their own copy of it. */
  explainSource?: ExplainSource;
  /** Multi-label models: a label is chosen when its sigmoid is over this. */
  threshold: number;
}

export const DEFAULT_SERVER_OPTIONS = {
  bodyLimit: 1 << 20, maxTexts: 64, maxTextChars: 100_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024,
  maxExplainTexts: 8, maxExplainSteps: 64, explainTimeoutMs: 60_000, threshold: 0.5,
};

/**
 * Node's HTTP server with the timeouts applied (checked every second, not Node's default 30 s),
 * a connection cap, and `Expect: 100-continue` answered from Content-Length: a body over the
 * limit gets 413 before it is sent, never a 100 that leaves the client waiting.
 */
function httpServer(opts: ServerOptions) {
  return (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const server = createServer({
      requestTimeout: opts.requestTimeoutMs,
      headersTimeout: Math.min(opts.requestTimeoutMs, 10_000),
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, opts.requestTimeoutMs),
    }, handler);
    server.maxConnections = opts.maxConnections;
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const length = Number(req.headers['content-length']);
      if (length > opts.bodyLimit) {
        res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
        res.end(JSON.stringify({ statusCode: 413, error: 'Payload Too Large', message: `a body of ${length} bytes is over the ${opts.bodyLimit}-byte limit` }));
        return;
      }
      res.writeContinue();
      handler(req, res);
    });
    return server;
  };
}

const draining = new WeakSet<FastifyInstance>();

/**
 * Stops the server gracefully: no new connection is accepted; every request read from now on, on
 * a connection already open (keep-alive clients, requests sent before the stop), is answered with
 * `Connection: close`; connections with nothing left to answer are closed after `graceMs`, time
 * for requests already in the socket buffers to be read. Resolves when every connection has ended.
 */
export function drain(app: FastifyInstance, graceMs: number): Promise<void> {
  draining.add(app);
  const closed = new Promise<void>((resolve) => app.server.close(() => resolve()));
  const idle = setInterval(() => app.server.closeIdleConnections(), graceMs);
  return closed.finally(() => clearInterval(idle));
}

/**
 * The HTTP API and web page. Bad JSON, wrong types, empty or oversized input get a 4xx JSON
 * error ({statusCode, error, message}) from schema validation; the server itself never stops.
 */
export function buildServer(classifier: Classifier, opts: ServerOptions): FastifyInstance {
  // No type coercion: "texts": "x" or "top_k": "3" are errors, not guesses.
  const app = Fastify({
    bodyLimit: opts.bodyLimit, ajv: { customOptions: { coerceTypes: false } }, serverFactory: httpServer(opts),
    // Fastify sets these on the server after the factory (its defaults would undo ours).
    requestTimeout: opts.requestTimeoutMs, keepAliveTimeout: opts.keepAliveTimeoutMs,
    // drain() answers what was sent before the stop; no 503 for requests already on their way.
    return503OnClosing: false, forceCloseConnections: false,
  });
  app.addHook('onSend', async (_req, reply) => {
    if (draining.has(app)) reply.header('connection', 'close');
  });
  const metrics = createMetrics();
  const batcher = new MicroBatcher(classifier, opts.maxTexts, 2, (n) => metrics.batchSize.observe(n), opts.threshold);
  const C = classifier.labels.length;

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(pageHtml(opts.modelName, { hybrid: classifier.hybrid !== undefined, problemType: classifier.problemType, pairs: classifier.pairs, threshold: opts.threshold })));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/v1/labels', async () => ({ labels: classifier.labels }));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  // A text, or a text pair {"text", "text_pair"} (for models trained on pairs).
  const text = { type: 'string', minLength: 1, maxLength: opts.maxTextChars };
  const pair = { type: 'object', required: ['text', 'text_pair'], additionalProperties: false, properties: { text, text_pair: text } };
  app.post<{ Body: { texts: (string | { text: string; text_pair: string })[]; top_k?: number } }>('/v1/classify', {
    schema: {
      body: {
        type: 'object',
        required: ['texts'],
        properties: {
          texts: { type: 'array', minItems: 1, maxItems: opts.maxTexts, items: { oneOf: [text, pair] } },
          top_k: { type: 'integer', minimum: 1, maximum: C },
        },
      },
    },
  }, async (req, reply) => {
    const { texts, top_k: topK = C } = req.body;
    const inputs: TextInput[] = texts.map((t) => (typeof t === 'string' ? t : { text: t.text, textPair: t.text_pair }));
    const blank = inputs.findIndex((t) => (typeof t === 'string' ? t.trim() === '' : t.text.trim() === '' || t.textPair.trim() === ''));
    if (blank >= 0) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `body/texts/${blank} is blank` });
    if (classifier.hybrid && inputs.some((t) => typeof t !== 'string')) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'this hybrid model reads single texts, not text pairs' });
    const results = await batcher.classify(inputs, topK);
    metrics.texts.inc(texts.length);
    metrics.truncated.inc(results.filter((r) => r.truncated).length);
    return { model: opts.modelName, results };
  });

  const explainer = new ExplainQueue(classifier, opts.explainSource, opts.explainTimeoutMs);
  app.addHook('onClose', async () => void (await explainer.close()));
  app.post<{ Body: { texts: string[]; method?: ExplainMethod; steps?: number; label?: string } }>('/v1/explain', {
    schema: {
      body: {
        type: 'object',
        required: ['texts'],
        properties: {
          texts: { type: 'array', minItems: 1, maxItems: opts.maxExplainTexts, items: { type: 'string', minLength: 1, maxLength: opts.maxTextChars } },
          method: { type: 'string', enum: [...EXPLAIN_METHODS] },
          steps: { type: 'integer', minimum: 1, maximum: opts.maxExplainSteps },
          label: { type: 'string', enum: classifier.labels },
        },
      },
    },
  }, async (req, reply) => {
    const { texts, method, steps, label } = req.body;
    const blank = texts.findIndex((t) => t.trim() === '');
    if (blank >= 0) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `body/texts/${blank} is blank` });
    try {
      const explanations = await explainer.explain(texts, { method, steps, label });
      return { model: opts.modelName, results: explanations.map((e) => ({ truncated: e.truncated, cut: e.cut, ...explanationJson(e) })) };
    } catch (e) {
      if (e instanceof ExplainBusy || e instanceof ExplainTimeout) return reply.code(503).header('retry-after', '5').send({ statusCode: 503, error: 'Service Unavailable', message: e.message });
      throw e;
    }
  });
  return app;
}
