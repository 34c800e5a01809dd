/** A configuration problem found at start-up: every bad variable is listed at once, then the process stops. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** An environment variable that no reader asked for (a typo, or a setting of another version). */
export interface UnknownVariable {
  readonly name: string;
  /** The closest name a reader asked for, when one is close enough to be a likely typo. */
  readonly suggestion: string | undefined;
}

/**
 * Reads typed settings from environment variables with defaults and validation. Collects problems instead of
 * throwing at the first one; `done()` throws a ConfigError listing them all. Every name a reader asks for is
 * remembered, so `unknownVariables('P3_')` can point out the ones set but never read (typos). Several config
 * readers share one EnvReader (`EnvReader.shared`) so that one `done()` lists every problem of all of them.
 *
 * @example
 * const env = new EnvReader(process.env);
 * const port = env.int('P3_PORT', 8000, { min: 0, max: 65535 });
 * for (const v of env.unknownVariables('P3_')) console.warn(`unknown ${v.name}`);
 * env.done();
 */
export class EnvReader {
  private readonly problems: string[] = [];
  private readonly asked = new Set<string>();
  constructor(private readonly env: Env) {}

  /**
   * The reader to use for `source`: the reader itself (its owner calls `done()` once every reader ran), or a new
   * one over an environment (then the caller, which owns it, calls `done()`: `if (r !== source) r.done()`).
   */
  static shared(source: Env | EnvReader): EnvReader {
    return source instanceof EnvReader ? source : new EnvReader(source);
  }

  /** Names read so far (every method records the name it is asked for, set or not). */
  knownNames(): ReadonlySet<string> {
    return this.asked;
  }

  /** Adds a problem found by the caller (e.g. a value valid alone but not with another). */
  problem(message: string): void {
    this.problems.push(message);
  }

  string(
    name: string,
    fallback: string,
    options: { pattern?: RegExp; oneOf?: readonly string[] } = {},
  ): string {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (options.pattern && !options.pattern.test(raw))
      this.problems.push(`${name}="${raw}" does not match ${options.pattern}`);
    if (options.oneOf && !options.oneOf.includes(raw))
      this.problems.push(`${name}="${raw}" must be one of ${options.oneOf.join(', ')}`);
    return raw;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  /** An integer setting without a default: undefined when unset (or invalid: the problem is recorded). */
  optionalInt(name: string, options: { min?: number; max?: number } = {}): number | undefined {
    if (this.raw(name) === undefined) return undefined;
    const value = this.int(name, Number.NaN, options);
    return Number.isNaN(value) ? undefined : value;
  }

  int(name: string, fallback: number, options: { min?: number; max?: number } = {}): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
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
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    this.problems.push(`${name}="${raw}" is not a boolean`);
    return fallback;
  }

  /**
   * Variables starting with `prefix` that are set but were never read, each with the closest known name when it
   * looks like a typo of it (`P3_TICKRATE` -> `P3_TICK_RATE`). Call it after every reader of the process ran.
   */
  unknownVariables(prefix: string): UnknownVariable[] {
    const unknown: UnknownVariable[] = [];
    for (const name of Object.keys(this.env).sort()) {
      if (!name.startsWith(prefix) || this.asked.has(name) || this.env[name] === undefined) continue;
      unknown.push({ name, suggestion: closest(name, this.asked) });
    }
    return unknown;
  }

  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }

  /** `P3_LOG_LEVEL`: one of pino's levels or `silent`. */
  logLevel(fallback = 'info'): string {
    return this.string('P3_LOG_LEVEL', fallback, {
      oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    });
  }

  /** The end of a service's reader: every unknown `P3_*` variable to `onUnknown` (typos), then `done()`. */
  finish(onUnknown?: (variable: UnknownVariable) => void): void {
    for (const variable of this.unknownVariables('P3_')) onUnknown?.(variable);
    this.done();
  }

  private raw(name: string): string | undefined {
    this.asked.add(name);
    const raw = this.env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  }
}

/** The known name nearest to `name` by edit distance, if within a third of its length (at least 2 edits). */
function closest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const distance = editDistance(name.toUpperCase(), candidate.toUpperCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
