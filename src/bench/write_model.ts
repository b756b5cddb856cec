/**
 * Writes the bench's base model folder and its ONNX export (cases.ts writeBenchModel) in a process
 * of its own: the runner never holds the weights, so the case processes it spawns start small
 * (Linux carries a parent's peak RSS into a forked child's).
 */
import { writeBenchModel } from './cases';

process.stdout.write(JSON.stringify(writeBenchModel(process.argv[2])) + '\n');
