import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { postgresConfig, requireNats, requirePostgres, uniqueName } from '@p3/test-support';

/**
 * `npm run build` (scripts/build.ts) and the services it builds, run with plain `node` (no TypeScript loader).
 * Built into node_modules/.cache/p3-build-*: external packages resolve from the bundle's location up the tree, so
 * the output must sit inside the repository (as dist/ does), and node_modules keeps it out of git and the linters.
 * Prints each service's start-up time (spawn to /healthz 200) and resident memory (VmRSS once healthy).
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));
let out: string;
const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await mkdir(join(root, 'node_modules/.cache'), { recursive: true });
  out = await mkdtemp(join(root, 'node_modules/.cache/p3-build-'));
  cleanups.push(() => rm(out, { recursive: true, force: true }));
  const build = new Child(
    spawn(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out', out], spawnOptions({})),
  );
  const exit = await build.exited;
  expect(exit.code, build.output).toBe(0);
  for (const file of ['server.mjs', 'persister.mjs', 'browser/demo.js', 'browser/index.html'])
    expect(build.output).toContain(relative(root, join(out, file)));
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A child process with its stdout and stderr collected. */
class Child {
  output = '';
  readonly exited: Promise<Exit>;
  constructor(readonly process: ChildProcess) {
    children.push(process);
    const collect = (chunk: Buffer) => (this.output += chunk.toString('utf8'));
    process.stdout?.on('data', collect);
    process.stderr?.on('data', collect);
    this.exited = new Promise((resolve) =>
      process.once('close', (code, signal) => resolve({ code, signal })),
    );
  }

  /** The first match of `pattern` in the output; fails when the process exits or 15 s pass first. */
  async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const match = pattern.exec(this.output);
      if (match) return match;
      if (this.process.exitCode !== null || this.process.signalCode !== null || Date.now() > deadline)
        throw new Error(`no ${pattern} (exit ${this.process.exitCode}):\n${this.output}`);
      await sleep(5);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The test runner's environment without `P3_*` settings and without NODE_OPTIONS (which could load a loader). */
function spawnOptions(env: Record<string, string>) {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('P3_') && name !== 'NODE_OPTIONS'),
  );
  return {
    cwd: root,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  };
}

/** Starts `node <out>/<file>` (nothing else on the command line), waits for its port, then for /healthz 200. */
async function startBuilt(
  file: string,
  env: Record<string, string>,
  portLine: RegExp,
): Promise<{ child: Child; port: number; startupMs: number; rssMiB: number }> {
  const started = performance.now();
  const child = new Child(spawn(process.execPath, [join(out, file)], spawnOptions(env)));
  const port = Number((await child.waitFor(portLine))[1]);
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (res) => res.status,
      () => 0,
    );
    if (status === 200) break;
    if (performance.now() - started > 15_000)
      throw new Error(`/healthz never 200 (${status}):\n${child.output}`);
    await sleep(5);
  }
  const startupMs = performance.now() - started;
  const pid = child.process.pid!;
  // Plain node: the exact command line we gave it, no tsx (or any --import/--loader) anywhere.
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  expect(cmdline).toEqual([process.execPath, join(out, file)]);
  expect((await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')).not.toContainEqual(
    expect.stringMatching(/^NODE_OPTIONS=/),
  );
  return { child, port, startupMs, rssMiB: await rssMiB(pid) };
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kib / 1024;
}

async function stop(child: Child): Promise<Exit> {
  child.process.kill('SIGTERM');
  return child.exited;
}

const report = (name: string, run: { startupMs: number; rssMiB: number }) =>
  console.log(
    `[production build] ${name}: start-up ${run.startupMs.toFixed(0)} ms (spawn to /healthz 200), RSS ${run.rssMiB.toFixed(1)} MiB`,
  );

describe('npm run build: services run as compiled JavaScript', () => {
  it('dist/server.mjs serves /healthz and the prebuilt demo page, and drains on SIGTERM (exit 0)', async () => {
    // A marker on the prebuilt script: served as it is means the page was not rebuilt (no esbuild at run time).
    const marker = `// prebuilt ${Date.now()}\n`;
    await appendFile(join(out, 'browser/demo.js'), marker);
    const dataDir = await mkdtemp(join(tmpdir(), 'p3-built-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const run = await startBuilt(
      'server.mjs',
      { P3_HOST: '127.0.0.1', P3_PORT: '0', P3_DATA_DIR: dataDir },
      /P3 is running: open http:\/\/[^:]+:(\d+)\//,
    );
    const page = await fetch(`http://127.0.0.1:${run.port}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script type="module" src="/demo.js"></script>');
    const script = await fetch(`http://127.0.0.1:${run.port}/demo.js`);
    expect(script.status).toBe(200);
    expect((await script.text()).endsWith(marker)).toBe(true);
    report('server', run);
    expect(await stop(run.child)).toEqual({ code: 0, signal: null });
  });

  it('dist/persister.mjs connects to NATS and Postgres, serves /healthz and /readyz, and drains on SIGTERM (exit 0)', async () => {
    const nc = await requireNats();
    const admin = await requirePostgres();
    const id = uniqueName('built').toLowerCase();
    cleanups.push(async () => {
      await (await jetstreamManager(nc)).streams.delete(id.toUpperCase()).catch(() => undefined);
      await nc.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${id} CASCADE`);
      await admin.end();
    });
    const run = await startBuilt(
      'persister.mjs',
      {
        P3_DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${postgresConfig.database}`,
        P3_DATABASE_SCHEMA: id,
        P3_SNAPSHOT_STREAM: id.toUpperCase(),
        P3_SUBJECT_PREFIX: id,
        P3_PERSISTER_CONSUMER: id,
        P3_PERSISTER_HOST: '127.0.0.1',
        P3_PERSISTER_PORT: '0',
        P3_PERSISTER_HEALTH_CHECK_MS: '100',
        P3_LOG_LEVEL: 'warn',
      },
      /persister listening on (\d+)/,
    );
    report('persister', run);
    // Ready: the bundle really talks to NATS (JetStream consumer) and Postgres (migrated schema).
    const deadline = Date.now() + 10_000;
    let ready = 0;
    while (ready !== 200 && Date.now() < deadline) {
      ready = (await fetch(`http://127.0.0.1:${run.port}/readyz`)).status;
      if (ready !== 200) await sleep(25);
    }
    expect(ready, run.child.output).toBe(200);
    const tables = await admin.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1`, [id]);
    expect(tables.rowCount).toBeGreaterThan(0);
    expect(await stop(run.child)).toEqual({ code: 0, signal: null });
  });
});
