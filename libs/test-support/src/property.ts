import fc from 'fast-check';

/** Time budget of one property check, generation and shrinking together (ms). */
export const propertyTimeLimitMs = 10_000;

/**
 * `fc.assert` parameters with a time cap. `fc.assert` of a synchronous property runs (and shrinks) inside one call
 * that no test timeout can interrupt: a counterexample that is slow to shrink once took from 17 s to more than 12
 * minutes, so CI hung instead of failing. With the cap the runs and the shrinking stop after `timeLimitMs`:
 *
 * - a property that failed fails at the cap, with the smallest counterexample found so far and its seed and path
 *   (replay with `{ seed, path }` to shrink further by hand);
 * - a property interrupted before any failure passes with the runs it made (fast-check fails it if it made none):
 *   a slow machine runs fewer cases rather than failing spuriously.
 *
 * Every `fc.assert` of the repository goes through it (a test checks).
 *
 * @example
 * fc.assert(fc.property(fc.integer(), (n) => n + 0 === n), capped({ numRuns: 200 }));
 */
export function capped<T>(
  params: fc.Parameters<T> = {},
  timeLimitMs = propertyTimeLimitMs,
): fc.Parameters<T> {
  // The plugin never looks at the generated values: typed for any property.
  const cap = fc.interruptAfterTimeLimit(timeLimitMs) as unknown as fc.Plugin<T>;
  return { ...params, plugins: [...(params.plugins ?? []), cap] };
}
