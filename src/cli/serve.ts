import { Command } from 'commander';
import { resolveModel } from '../io/hub';
import { Classifier } from '../pipeline/classifier';
import { buildServer, DEFAULT_SERVER_OPTIONS, drain } from '../serve/server';
import { StripPart } from '../data/strip';
import { addDeviceOptions, applyThreads, deviceChoice, DeviceOptions, floatOption, intOption, stripOption } from './common';

interface ServeOptions {
  model: string;
  host: string;
  port: number;
  maxTexts: number;
  maxBody: number;
  threads?: number;
  maxLength?: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
  drain: number;
  threshold: number;
  maxExplainTexts: number;
  maxExplainSteps: number;
  explainTimeout: number;
  strip?: StripPart[];
}

export function serveCommand(): Command {
  return addDeviceOptions(new Command('serve'))
    .description('HTTP JSON API (POST /v1/classify, POST /v1/explain, GET /v1/labels, /healthz, /metrics) and a web page at /')
    .requiredOption('--model <dir>', 'model folder')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', intOption(0), 8020)
    .option('--max-texts <n>', 'most texts per request (and per engine batch)', intOption(1), DEFAULT_SERVER_OPTIONS.maxTexts)
    .option('--max-body <bytes>', 'largest request body', intOption(1), DEFAULT_SERVER_OPTIONS.bodyLimit)
    .option('--max-length <n>', 'tokens per text, [CLS] and [SEP] included (default: the model\'s model_max_length)', intOption(2))
    .option('--threads <n>', 'CPU threads', intOption(1))
    .option('--strip <parts>', 'remove headers,footers,quotes from each text (a model trained with --strip records and applies its own)', stripOption)
    .option('--request-timeout <ms>', 'time for a whole request, body included (a stalled client is cut off)', intOption(100), DEFAULT_SERVER_OPTIONS.requestTimeoutMs)
    .option('--keep-alive-timeout <ms>', 'how long an idle keep-alive connection is kept', intOption(1), DEFAULT_SERVER_OPTIONS.keepAliveTimeoutMs)
    .option('--max-connections <n>', 'connections served at once (more are refused)', intOption(1), DEFAULT_SERVER_OPTIONS.maxConnections)
    .option('--max-explain-texts <n>', 'most texts per /v1/explain request', intOption(1), DEFAULT_SERVER_OPTIONS.maxExplainTexts)
    .option('--max-explain-steps <n>', 'most integrated-gradients steps a /v1/explain request may ask', intOption(1), DEFAULT_SERVER_OPTIONS.maxExplainSteps)
    .option('--explain-timeout <ms>', 'time an explanation may run once started (503 after it)', intOption(100), DEFAULT_SERVER_OPTIONS.explainTimeoutMs)
    .option('--threshold <p>', 'multi-label models: a label is chosen when its sigmoid is over this', floatOption(0, 1), DEFAULT_SERVER_OPTIONS.threshold)
    .option('--drain <ms>', 'on SIGTERM/SIGINT: how long in-flight requests may finish before exit', intOption(0), 10_000)
    .action(async (o: DeviceOptions & ServeOptions) => {
      applyThreads(o.threads);
      const dir = await resolveModel(o.model, '--model <folder>', o.revision);
      const load = { maxLength: o.maxLength, device: deviceChoice(o), strip: o.strip };
      const classifier = Classifier.load(dir, load);
      const app = buildServer(classifier, {
        ...DEFAULT_SERVER_OPTIONS, modelName: o.model, maxTexts: o.maxTexts, bodyLimit: o.maxBody,
        requestTimeoutMs: o.requestTimeout, keepAliveTimeoutMs: o.keepAliveTimeout, maxConnections: o.maxConnections,
        maxExplainTexts: o.maxExplainTexts, maxExplainSteps: o.maxExplainSteps, explainTimeoutMs: o.explainTimeout, explainSource: { dir, load }, threshold: o.threshold,
      });
      const address = await app.listen({ host: o.host, port: o.port });
      const stop = () => {
        // Stop accepting, answer what was sent before, for at most --drain ms, then exit.
        setTimeout(() => process.exit(0), o.drain).unref();
        void drain(app, Math.min(250, o.drain)).then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Printed once the handlers are in place: a supervisor may signal as soon as it reads it.
      process.stdout.write(`serving ${o.model} on ${address} (page at /, API at /v1/classify)\n`);
    });
}
