import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect as natsConnect } from '@nats-io/transport-node';
import { FaultProxy } from '../src/fault-proxy.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An echo server: every byte comes back. */
async function echo(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

async function proxyTo(port: number, random?: () => number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({
    target: { host: '127.0.0.1', port },
    ...(random ? { random } : {}),
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client that collects what it receives, and the time of its first byte. */
async function client(port: number): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  cleanups.push(() => socket.destroy());
  return { socket, text: () => received, closed };
}

const until = async (ok: () => boolean, ms = 5000): Promise<void> => {
  const started = Date.now();
  while (!ok()) {
    if (Date.now() - started > ms) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
};

describe('FaultProxy', () => {
  it('[FAULT-1] forwards both ways unchanged, and adds the latency each way', async () => {
    const proxy = await proxyTo(await echo());
    const c = await client(proxy.port);
    c.socket.write('hello');
    await until(() => c.text() === 'hello');
    proxy.setFaults({ latencyMs: 60 });
    const sent = performance.now();
    c.socket.write('!');
    await until(() => c.text() === 'hello!');
    // Two hops through the proxy (there and back), 60 ms each.
    expect(performance.now() - sent).toBeGreaterThanOrEqual(115);
  });

  it('[FAULT-2] keeps the byte order under jitter and loss stalls', async () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const proxy = await proxyTo(await echo(), random);
    proxy.setFaults({ latencyMs: 5, jitterMs: 30, lossRate: 0.2, lossStallMs: 40 });
    const c = await client(proxy.port);
    const expected = Array.from({ length: 200 }, (_, i) => `${i};`).join('');
    for (let i = 0; i < 200; i++) {
      c.socket.write(`${i};`);
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await until(() => c.text().length === expected.length, 15_000);
    expect(c.text()).toBe(expected);
  });

  it('[FAULT-3] cut drops every connection and refuses new ones until heal', async () => {
    const proxy = await proxyTo(await echo());
    const c = await client(proxy.port);
    proxy.cut();
    await c.closed;
    expect(proxy.connectionCount).toBe(0);
    const refused = connect({ host: '127.0.0.1', port: proxy.port });
    await new Promise<void>((resolve) => {
      refused.on('error', () => resolve());
      refused.on('close', () => resolve());
    });
    proxy.heal();
    const again = await client(proxy.port);
    again.socket.write('back');
    await until(() => again.text() === 'back');
  });

  it('[FAULT-4] a NATS client through it works with latency, and reconnects after a cut heals', async () => {
    const proxy = await proxyTo(4222);
    const nc = await natsConnect({
      servers: `127.0.0.1:${proxy.port}`,
      reconnectTimeWait: 100,
      maxReconnectAttempts: -1,
    });
    cleanups.push(() => nc.close());
    proxy.setFaults({ latencyMs: 40 });
    const started = performance.now();
    await nc.flush();
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    proxy.setFaults({});
    proxy.cut();
    setTimeout(() => proxy.heal(), 300);
    await until(() => proxy.connectionCount > 0, 10_000);
    await nc.flush();
  });
});
