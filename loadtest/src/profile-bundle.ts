import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * Bundles a benchmark entry point with its workspace sources (`@p3/*` and relative imports; every other package
 * stays external) into `outDir/NAME.<time>.bundle.mjs` with an external source map. A CPU profile of the bundle can be
 * mapped back to TypeScript file:line (`cpu-profile-top.ts`); a profile of code loaded through tsx cannot, since
 * tsx's transform moves lines and V8 profiles ignore source maps. The code runs the same as under tsx (both are
 * esbuild transforms).
 */
export async function bundleForProfile(entry: string, outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  // One bundle per run: a profile maps through the source map of the very bundle it profiled.
  const outfile = join(outDir, basename(entry).replace(/\.ts$/, `.${Date.now().toString(36)}.bundle.mjs`));
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'external',
    logLevel: 'warning',
    plugins: [
      {
        name: 'external-packages',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('@p3/') ? undefined : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  return outfile;
}
