import { existsSync, readFileSync } from 'node:fs';

/** A JSON file's value, undefined when the file does not exist; one error naming the file when it is not JSON. */
export function readJsonIfExists(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}
