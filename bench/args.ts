/** The value after `--name` on the command line of a bench script, or `fallback`; required when there is none. */
export function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
}

/** The value after `--name`, or undefined when the flag is absent. */
export function optionalArg(name: string): string | undefined {
  return process.argv.includes(`--${name}`) ? arg(name) : undefined;
}
