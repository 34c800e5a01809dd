// `npm run build`: the production build. Services run as compiled JavaScript with plain `node`, no TypeScript loader:
//   dist/server.mjs     single-process server (gateway + simulator + demo page), `npm run start:built`
//   dist/persister.mjs  the persister (NATS -> Postgres)
//   dist/gateway.mjs    a cluster gateway (uWS edge; rooms across NATS)
//   dist/simulator.mjs  a cluster simulator (rooms by lease; JetStream log and snapshots)
//   dist/browser/       the demo page (index.html and the prebuilt demo.js), served by dist/server.mjs
// Workspace sources (`@p3/*` and relative imports) are bundled; every other package stays external and is loaded
// from node_modules at run time (uWebSockets.js is a native addon, pg/pino/nats are plain packages), so the build
// runs where `npm ci` ran. `--out DIR` builds somewhere else (tests build into a temporary directory).
import { build, type Plugin } from 'esbuild';
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleDemoScript } from '../services/server/src/demo/demo-bundle.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const outDir = resolve(values.out ?? join(root, 'dist'));

/** Bare specifiers other than `@p3/*` (node builtins included) are left to Node's resolver at run time. */
const externalPackages: Plugin = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@p3/') ? undefined : { path: args.path, external: true },
    );
  },
};

const services = [
  { name: 'server', entry: 'services/server/src/main.ts' },
  { name: 'persister', entry: 'services/persister/src/main.ts' },
  { name: 'gateway', entry: 'services/gateway/src/main.ts' },
  { name: 'simulator', entry: 'services/simulator/src/main.ts' },
] as const;

await rm(outDir, { recursive: true, force: true });
await mkdir(join(outDir, 'browser'), { recursive: true });

const outputs: string[] = [];
for (const service of services) {
  const outfile = join(outDir, `${service.name}.mjs`);
  await build({
    entryPoints: [join(root, service.entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    minify: false,
    // No createRequire banner: the bundled code is all ESM workspace source (no `__require` shim in the output);
    // CommonJS packages are external and imported by Node itself.
    plugins: [externalPackages],
    logLevel: 'warning',
  });
  outputs.push(outfile, `${outfile}.map`);
}

// The demo page: dist/server.mjs resolves `./browser/` next to itself (import.meta.url), see demo-bundle.ts.
const demoScript = join(outDir, 'browser', 'demo.js');
await writeFile(demoScript, await bundleDemoScript());
const demoPage = join(outDir, 'browser', 'index.html');
await copyFile(join(root, 'services/server/src/demo/browser/index.html'), demoPage);
outputs.push(demoScript, demoPage);

for (const file of outputs) {
  const kib = (await stat(file)).size / 1024;
  const shown = relative(process.cwd(), file);
  console.log(`${(shown.startsWith('..') ? file : shown).padEnd(48)} ${kib.toFixed(1).padStart(8)} KiB`);
}
