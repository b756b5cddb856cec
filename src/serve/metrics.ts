import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of the server: process figures (RSS, CPU, event loop) plus our own. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({ name: 'bert20news_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [registry] }),
    latency: new Histogram({
      name: 'bert20news_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
    }),
    texts: new Counter({ name: 'bert20news_texts_classified_total', help: 'texts classified', registers: [registry] }),
    truncated: new Counter({ name: 'bert20news_texts_truncated_total', help: 'texts cut to the model\'s maximum length', registers: [registry] }),
    batchSize: new Histogram({ name: 'bert20news_engine_batch_texts', help: 'texts per engine batch (micro-batching)', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [registry] }),
  };
}

export type ServerMetrics = ReturnType<typeof createMetrics>;
