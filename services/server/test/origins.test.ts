import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode } from '@p3/protocol';
import { gatewayConfigFromEnv, type GatewayConfig } from '@p3/gateway';
import { P3Server } from '@p3/server';

const servers: P3Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(gateway: Partial<GatewayConfig> = {}): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    instanceId: 'origins',
    storage: 'memory',
    logLevel: 'silent',
    gateway,
  });
  servers.push(await server.listen());
  return server;
}

/** The status of a WebSocket upgrade (101 when accepted) and the refusal body. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ['p3.json'], { headers });
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.on('open', () => {
      socket.close();
      resolve({ status: 101, body: '' });
    });
    socket.on('error', (error) => {
      if (!String(error.message).includes('Unexpected server response')) reject(error);
    });
  });
}

describe('cross-site requests', () => {
  it('[ORIGIN-1] refuses WebSocket upgrades from a foreign origin with 403 ORIGIN_NOT_ALLOWED', async () => {
    const server = await start();
    const host = `127.0.0.1:${server.port}`;
    for (const path of ['/v1/connect', '/ecs-sync?roomId=o&clientId=c']) {
      const url = `ws://${host}${path}`;
      const foreign = await upgrade(url, { origin: 'https://evil.example' });
      expect(foreign.status, path).toBe(403);
      expect(JSON.parse(foreign.body)).toMatchObject({ code: ErrorCode.OriginNotAllowed });
      expect(JSON.parse(foreign.body).reason).toContain('https://evil.example');
      // The server's own pages, local development pages and non-browser clients pass.
      expect((await upgrade(url, { origin: `http://${host}` })).status, path).toBe(101);
      expect((await upgrade(url, { origin: 'http://localhost:5173' })).status, path).toBe(101);
      expect((await upgrade(url, {})).status, path).toBe(101);
      expect((await upgrade(url, { origin: 'null' })).status, path).toBe(403);
    }
  });

  it('[ORIGIN-1] refuses /v1/rooms requests from a foreign origin, and lets the configured ones through', async () => {
    const server = await start({ allowedOrigins: ['https://app.example.com', 'https://*.tools.example'] });
    const base = `http://127.0.0.1:${server.port}/v1/rooms/origin-doc`;
    const change = (origin?: string) =>
      fetch(`${base}/changes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(origin === undefined ? {} : { origin }) },
        body: JSON.stringify({ patches: [{ k: { v: 1 } }] }),
      });
    const refused = await change('https://evil.example');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: ErrorCode.OriginNotAllowed });
    for (const path of ['bootstrap', 'sync']) {
      const response = await fetch(`${base}/${path}`, { headers: { origin: 'https://evil.example' } });
      expect(response.status, path).toBe(403);
      expect(await response.json()).toMatchObject({ code: ErrorCode.OriginNotAllowed });
    }
    expect((await change('https://app.example.com')).status).toBe(200);
    expect((await change('https://a.tools.example')).status).toBe(200);
    expect((await change('http://app.example.com')).status).toBe(403);
    // An explicit list replaces the local-development default.
    expect((await change('http://localhost:5173')).status).toBe(403);
    expect((await change()).status).toBe(200);
    const bootstrap = await fetch(`${base}/bootstrap`);
    expect(((await bootstrap.json()) as { version: number }).version).toBe(3);
  });

  it('[HTTP-1] refuses POST /changes bodies that are not application/json with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const server = await start();
    const url = `http://127.0.0.1:${server.port}/v1/rooms/media-doc/changes`;
    const body = JSON.stringify({ patches: [{ k: { v: 1 } }] });
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
      expect(response.status, type).toBe(415);
      const answer = (await response.json()) as { code: string; reason: string };
      expect(answer.code).toBe(ErrorCode.UnsupportedMediaType);
      expect(answer.reason).toContain(type.split(';')[0]);
    }
    const ok = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    expect(ok.status).toBe(200);
    const bootstrap = await fetch(`http://127.0.0.1:${server.port}/v1/rooms/media-doc/bootstrap`);
    expect(((await bootstrap.json()) as { version: number }).version).toBe(1);
  });

  it('[ORIGIN-1] reads P3_ALLOWED_ORIGINS and refuses malformed entries', () => {
    expect(
      gatewayConfigFromEnv({ P3_ALLOWED_ORIGINS: 'https://a.example, http://localhost:*' }).allowedOrigins,
    ).toEqual(['https://a.example', 'http://localhost:*']);
    expect(gatewayConfigFromEnv({}).allowedOrigins).toContain('http://localhost:*');
    expect(() => gatewayConfigFromEnv({ P3_ALLOWED_ORIGINS: 'evil.example/path' })).toThrow(
      /P3_ALLOWED_ORIGINS/,
    );
  });
});
