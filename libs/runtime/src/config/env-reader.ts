/** A configuration problem found at start-up: every bad variable is listed at once, then the process stops. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads typed settings from environment variables with defaults and validation. Collects problems instead of
 * throwing at the first one; `done()` throws a ConfigError listing them all.
 *
 * @example
 * const env = new EnvReader(process.env);
 * const port = env.int('P3_PORT', 8000, { min: 0, max: 65535 });
 * env.done();
 */
export class EnvReader {
  private readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  string(
    name: string,
    fallback: string,
    options: { pattern?: RegExp; oneOf?: readonly string[] } = {},
  ): string {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if (options.pattern && !options.pattern.test(raw))
      this.problems.push(`${name}="${raw}" does not match ${options.pattern}`);
    if (options.oneOf && !options.oneOf.includes(raw))
      this.problems.push(`${name}="${raw}" must be one of ${options.oneOf.join(', ')}`);
    return raw;
  }

  optionalString(name: string): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  }

  int(name: string, fallback: number, options: { min?: number; max?: number } = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value)) {
      this.problems.push(`${name}="${raw}" is not an integer`);
      return fallback;
    }
    if (
      (options.min !== undefined && value < options.min) ||
      (options.max !== undefined && value > options.max)
    ) {
      this.problems.push(`${name}=${value} must be in [${options.min ?? '-inf'}, ${options.max ?? 'inf'}]`);
      return fallback;
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    this.problems.push(`${name}="${raw}" is not a boolean`);
    return fallback;
  }

  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
