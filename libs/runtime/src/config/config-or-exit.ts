import { ConfigError, type UnknownVariable } from './env-reader.js';

/** A warning line for a variable no reader knows: `P3_TICKRATE is not a P3 setting (did you mean P3_TICK_RATE?)`. */
export function unknownVariableWarning(variable: UnknownVariable): string {
  const hint = variable.suggestion === undefined ? '' : ` (did you mean ${variable.suggestion}?)`;
  return `${variable.name} is not a P3 setting and is ignored${hint}`;
}

/**
 * A service's configuration from its environment reader, or the process exits 2 after printing every problem
 * (and the unknown variables, which are often the cause: a typo leaves a setting at its default). Returns the
 * warnings for unknown variables so the caller logs them once its logger exists.
 *
 * @example
 * const { config, warnings } = configOrExit((onUnknown) => serverConfigFromEnv(process.env, onUnknown));
 */
export function configOrExit<T>(read: (onUnknown: (variable: UnknownVariable) => void) => T): {
  config: T;
  warnings: string[];
} {
  const warnings: string[] = [];
  try {
    return { config: read((variable) => warnings.push(unknownVariableWarning(variable))), warnings };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const warning of warnings) console.error(`warning: ${warning}`);
    console.error(error.message);
    process.exit(2);
  }
}
