import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayListenError } from '@p3/gateway';
import { P3Server } from '@p3/server';

const servers: P3Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const listenServer = fileURLToPath(new URL('./support/listen-server.ts', import.meta.url));

/** Starts a server in a process of its own (a second `npm start`); resolves with its first line and exit code. */
function otherProcess(port: number, host: string): Promise<{ line: string; exitCode: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', listenServer], {
      env: { ...process.env, PORT: String(port), HOST: host },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      // A server that started shares the port: stop it, the test has its answer.
      if (out.startsWith('ready')) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (exitCode) => resolve({ line: out.split('\n')[0] ?? '', exitCode }));
  });
}

/**
 * A free port, chosen by the OS then released: the first server must bind it by number, since Linux never shares a
 * port a socket got by binding port 0 (that would hide the bug this test is about).
 */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const options = (port: number) =>
  ({ port, host: '127.0.0.1', instanceId: 'port', storage: 'memory', logLevel: 'silent' }) as const;

describe('listening', () => {
  it('[LISTEN-1] a second server process on the same port fails with EADDRINUSE instead of sharing it', async () => {
    const first = new P3Server(options(await freePort()));
    servers.push(await first.listen());
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      const second = await otherProcess(first.port, host);
      expect(second.line, host).toMatch(/^error EADDRINUSE /);
      expect(second.line, host).toContain(`${host}:${first.port}`);
      expect(second.exitCode, host).toBe(1);
    }
  }, 60_000);

  it('[LISTEN-1] P3Server.listen rejects with a GatewayListenError naming the address and EADDRINUSE', async () => {
    const first = new P3Server(options(0));
    servers.push(await first.listen());
    const second = new P3Server(options(first.port));
    servers.push(second);
    const error = await second.listen().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GatewayListenError);
    const listenError = error as GatewayListenError;
    expect(listenError.code).toBe('EADDRINUSE');
    expect(listenError.port).toBe(first.port);
    expect(listenError.message).toContain(`127.0.0.1:${first.port}`);
    expect(listenError.message).toContain('EADDRINUSE');
    // The first server is unaffected.
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`http://127.0.0.1:${first.port}/healthz`);
      expect(response.status).toBe(200);
    }
  });

  it('[LISTEN-1] a server on all interfaces also refuses a port taken on loopback', async () => {
    const first = new P3Server(options(0));
    servers.push(await first.listen());
    const second = new P3Server({ ...options(first.port), host: '0.0.0.0' });
    servers.push(second);
    await expect(second.listen()).rejects.toMatchObject({ code: 'EADDRINUSE', port: first.port });
  });
});
