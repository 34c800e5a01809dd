import fc from 'fast-check';

/**
 * `fc.assert` parameters with a time cap: the protocol's copy of `capped` from `@p3/test-support/property` (the
 * protocol imports nothing of ours, its tests included: test-support depends on it). See that one for why: a
 * synchronous property that fails while shrinking slowly must fail at the cap, not hang CI.
 */
export function capped<T>(params: fc.Parameters<T> = {}, timeLimitMs = 10_000): fc.Parameters<T> {
  // The plugin never looks at the generated values: typed for any property.
  const cap = fc.interruptAfterTimeLimit(timeLimitMs) as unknown as fc.Plugin<T>;
  return { ...params, plugins: [...(params.plugins ?? []), cap] };
}
