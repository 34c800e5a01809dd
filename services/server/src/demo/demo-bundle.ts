import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { StaticFile } from '@p3/gateway';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The demo page script: the browser SDK, the shared world definition and the page script in one ES module with an
 * inline source map. esbuild is loaded only here (dynamic import), so a production build that ships a prebuilt
 * `demo.js` never loads it. `npm run build` (scripts/build.ts) calls this to write `dist/browser/demo.js`.
 */
export async function bundleDemoScript(): Promise<Uint8Array> {
  const { build } = await import('esbuild');
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
  return script.contents;
}

/**
 * The demo page's files. From the sources (`npm start` through tsx), the script is built in memory at start-up
 * (esbuild, ~100 ms): no build step for users, and the page always matches the server's code. In the production
 * bundle (`dist/server.mjs`), `import.meta.url` is the bundle, so `./browser/` is `dist/browser/`, where
 * `npm run build` put `index.html` and the prebuilt `demo.js`: those are served as they are, without esbuild.
 */
export async function buildDemoFiles(): Promise<Map<string, StaticFile>> {
  const prebuilt = await readFile(here('./browser/demo.js')).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  const script = prebuilt ?? (await bundleDemoScript());
  const html = await readFile(here('./browser/index.html'));
  const page: StaticFile = { body: html, type: 'text/html; charset=utf-8' };
  return new Map<string, StaticFile>([
    ['/', page],
    ['/index.html', page],
    ['/demo.js', { body: script, type: 'text/javascript; charset=utf-8' }],
  ]);
}
