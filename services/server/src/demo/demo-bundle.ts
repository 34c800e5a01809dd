import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { StaticFile } from '@p3/gateway';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * Builds the demo page in memory at start-up (esbuild, ~100 ms): the browser SDK, the shared world definition
 * and the page script in one file. No build step for users, and the page always matches the server's code.
 */
export async function buildDemoFiles(): Promise<Map<string, StaticFile>> {
  const result = await build({
    entryPoints: [here('./browser/demo-app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    external: ['ws'],
    logLevel: 'silent',
  });
  const script = result.outputFiles[0];
  if (!script) throw new Error('demo bundle produced no output');
  const html = await readFile(here('./browser/index.html'));
  const page: StaticFile = { body: html, type: 'text/html; charset=utf-8' };
  return new Map<string, StaticFile>([
    ['/', page],
    ['/index.html', page],
    ['/demo.js', { body: script.contents, type: 'text/javascript; charset=utf-8' }],
  ]);
}
