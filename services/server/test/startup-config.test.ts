import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { JwtAuthenticator } from '@p3/gateway';
import { ConfigError } from '@p3/runtime';
import { serverConfigFromEnv } from '../src/server-config.js';
import { MainProcess } from './support/main-process.js';

const readme = fileURLToPath(new URL('../../../README.md', import.meta.url));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p3-startup-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** No stack trace: every expected start-up failure is one readable message. */
const stackFrame = /^\s+at /m;

describe('npm start: configuration errors', () => {
  it('[START-1] lists every configuration problem at once (gateway, simulator and server settings), then exits 2', async () => {
    const run = await MainProcess.run({ P3_PORT: 'abc', P3_TICK_RATE: '0', P3_STORAGE: 'nope' });
    expect(run.code).toBe(2);
    expect(run.output).toContain('P3_PORT="abc" is not an integer');
    expect(run.output).toContain('P3_TICK_RATE=0 must be in [1, 240]');
    expect(run.output).toContain('P3_STORAGE="nope" must be one of file, memory, postgres');
    expect(run.output).not.toMatch(stackFrame);
  });

  it('[START-2] warns about an unknown P3_* variable with the closest known name', async () => {
    // The invalid P3_STORAGE makes it exit at once: the warning comes before the list of problems.
    const run = await MainProcess.run({ P3_TICKRATE: '60', P3_JWT_ISSUR: 'x', P3_STORAGE: 'nope' });
    expect(run.code).toBe(2);
    expect(run.output).toContain(
      'P3_TICKRATE is not a P3 setting and is ignored (did you mean P3_TICK_RATE?)',
    );
    expect(run.output).toContain(
      'P3_JWT_ISSUR is not a P3 setting and is ignored (did you mean P3_JWT_ISSUER?)',
    );
  });

  it('[START-2] the known names come from the readers: every variable they read is in the README table and back', async () => {
    const section = (await readFile(readme, 'utf8')).split('## Configuration')[1]!.split('\n## ')[0]!;
    const rows = section.split('\n').filter((line) => line.startsWith('| `P3_'));
    const documented = new Set(
      rows.flatMap((row) => [...row.matchAll(/`(P3_[A-Z0-9_]+)`/g)].map((m) => m[1]!)),
    );
    // Every documented name set (empty counts as unset) is known to a reader: no warning.
    const unknown: string[] = [];
    serverConfigFromEnv(Object.fromEntries([...documented].map((name) => [name, ''])), (v) =>
      unknown.push(v.name),
    );
    expect(unknown).toEqual([]);
    // Every name a reader asks for, set or not (P3_JWT_AUDIENCE without a secret too), is documented.
    const asked: string[] = [];
    const probe = new Proxy<Record<string, string | undefined>>(
      {},
      {
        get: (_, name) => {
          if (typeof name === 'string') asked.push(name);
          return undefined;
        },
      },
    );
    serverConfigFromEnv(probe);
    expect(asked.filter((name) => !documented.has(name))).toEqual([]);
    for (const name of ['P3_JOIN_TIMEOUT_MS', 'P3_RATE_LIMIT_CLOSE_AFTER', 'P3_DOC_SAVE_THROTTLE_MS'])
      expect(documented).toContain(name);
  });

  it('[START-3] a JWT secret shorter than 32 bytes is a configuration error (exit 2), not a stack trace', async () => {
    const run = await MainProcess.run({
      P3_JWT_SECRET: 'twenty-bytes-secret!',
      P3_STORAGE: 'memory',
      P3_PORT: '0',
    });
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(2);
    expect(run.output).toContain('P3_JWT_SECRET has 20 bytes: HS256 needs at least 32');
    expect(run.output).not.toContain('twenty-bytes-secret!');
    expect(run.output).not.toMatch(stackFrame);
    expect(() => serverConfigFromEnv({ P3_JWT_SECRET: 'x'.repeat(31) })).toThrow(ConfigError);
    expect(serverConfigFromEnv({ P3_JWT_SECRET: 'x'.repeat(32) }).jwt?.secret).toHaveLength(32);
    // Library users of the authenticator get the same floor.
    expect(() => new JwtAuthenticator({ secret: 'é'.repeat(15), audience: 'p3' })).toThrow(/30 bytes/);
  });
});

describe('npm start: the port', () => {
  it('[START-8] one port variable: the README (top commands, Node example) and the quickstart use P3_PORT', async () => {
    const text = await readFile(readme, 'utf8');
    const quickstart = await readFile(new URL('../examples/quickstart.ts', import.meta.url), 'utf8');
    const top = text.split('```')[1]!;
    expect(top).toMatch(/^P3_PORT=\d+ npm start/m);
    for (const source of [text, quickstart]) {
      expect(source).toContain('process.env.P3_PORT');
      expect(source).not.toMatch(/process\.env\.PORT\b/);
    }
  });

  it('[START-5] a port in use is reported in one line naming the address and EADDRINUSE, exit 1', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => holder.close(resolve)));
    const port = (holder.address() as { port: number }).port;
    const run = await MainProcess.run({
      P3_PORT: String(port),
      P3_STORAGE: 'file',
      P3_DATA_DIR: await tempDir(),
    });
    expect(run.code).toBe(1);
    expect(run.output).toContain(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    expect(run.output).not.toMatch(stackFrame);
  });
});
