import { Command } from 'commander';
import { loadModelDir } from '../io/model_dir';
import { Classifier } from '../model/classifier';
import { buildServer, DEFAULT_SERVER_OPTIONS } from '../serve/server';
import { addDeviceOptions, applyThreads, DeviceOptions, intOption } from './common';

export function serveCommand(): Command {
  return addDeviceOptions(new Command('serve'))
    .description('HTTP JSON API (POST /v1/classify, GET /v1/labels, /healthz, /metrics) and a web page at /')
    .requiredOption('--model <dir>', 'model folder')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', intOption(0), 8020)
    .option('--max-texts <n>', 'most texts per request (and per engine batch)', intOption(1), DEFAULT_SERVER_OPTIONS.maxTexts)
    .option('--max-body <bytes>', 'largest request body', intOption(1), DEFAULT_SERVER_OPTIONS.bodyLimit)
    .option('--max-length <n>', 'tokens per text, [CLS] and [SEP] included (default: the model\'s model_max_length)', intOption(2))
    .option('--threads <n>', 'CPU threads', intOption(1))
    .action(async (o: DeviceOptions & { model: string; host: string; port: number; maxTexts: number; maxBody: number; threads?: number; maxLength?: number }) => {
      applyThreads(o.threads);
      const classifier = new Classifier(loadModelDir(o.model), o.maxLength, o);
      const app = buildServer(classifier, { ...DEFAULT_SERVER_OPTIONS, modelName: o.model, maxTexts: o.maxTexts, bodyLimit: o.maxBody });
      const address = await app.listen({ host: o.host, port: o.port });
      process.stdout.write(`serving ${o.model} on ${address} (page at /, API at /v1/classify)\n`);
      const stop = () => void app.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
