import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capped } from '../src/property.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Test sources of every package (where property tests live). */
async function testFiles(): Promise<string[]> {
  const dirs: string[] = [join(root, 'loadtest', 'test')];
  for (const group of ['libs', 'services']) {
    for (const pkg of await readdir(join(root, group))) dirs.push(join(root, group, pkg, 'test'));
  }
  const files: string[] = [];
  for (const dir of dirs) {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    for (const entry of entries)
      if (entry.isFile() && entry.name.endsWith('.ts')) files.push(join(entry.parentPath, entry.name));
  }
  return files;
}

/** The text of each call of fc.assert, its parentheses matched (strings and line comments skipped). */
function assertCalls(source: string): string[] {
  const calls: string[] = [];
  for (
    let start = source.indexOf('fc.assert(');
    start >= 0;
    start = source.indexOf('fc.assert(', start + 1)
  ) {
    let depth = 0;
    let quote: string | undefined;
    let i = start + 'fc.assert'.length;
    for (; i < source.length; i++) {
      const c = source[i]!;
      if (quote !== undefined) {
        if (c === '\\') i++;
        else if (c === quote) quote = undefined;
      } else if (c === "'" || c === '"' || c === '`') quote = c;
      else if (c === '/' && source[i + 1] === '/') i = source.indexOf('\n', i);
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) break;
    }
    calls.push(source.slice(start, i + 1));
  }
  return calls;
}

describe('property tests have a time cap', () => {
  it('every fc.assert of the repository passes capped(...) parameters', async () => {
    const uncapped: string[] = [];
    let count = 0;
    for (const file of await testFiles()) {
      const source = await readFile(file, 'utf8');
      for (const call of assertCalls(source)) {
        count++;
        if (!call.includes('capped(')) uncapped.push(`${relative(root, file)}: ${call.slice(0, 80)}`);
      }
    }
    expect(count).toBeGreaterThan(20);
    expect(uncapped).toEqual([]);
  });

  it('a failing property whose shrinking is slow fails at the cap, with a counterexample', () => {
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    // Every call costs 20 ms and hundreds of shrink steps are possible: uncapped this takes minutes.
    const property = fc.property(
      fc.array(fc.double({ noNaN: true }), { minLength: 300, maxLength: 400 }),
      (a) => {
        busy(20);
        return a.filter((x) => x > 0.5).length < 3;
      },
    );
    const started = performance.now();
    expect(() => fc.assert(property, capped({ seed: 7 }, 500))).toThrow(
      /Property failed[\s\S]*Counterexample/,
    );
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('a passing property interrupted at the cap passes with the runs it made', () => {
    let runs = 0;
    const started = performance.now();
    fc.assert(
      fc.property(fc.integer(), () => {
        runs++;
        const end = performance.now() + 5;
        while (performance.now() < end);
        return true;
      }),
      capped({ numRuns: 1_000_000 }, 200),
    );
    expect(runs).toBeGreaterThan(0);
    expect(runs).toBeLessThan(1_000_000);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
