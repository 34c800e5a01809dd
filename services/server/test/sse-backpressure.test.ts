import http, { type IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayConfig } from '@p3/gateway';
import { P3Server } from '@p3/server';
import { until, waitFor } from '@p3/test-support';

// A full collection before each memory reading, so that garbage is not counted as held memory.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Memory outside the JavaScript heap after a full collection: where uWS keeps what a socket did not take (the
 * heap's own growth, test readers' text included, is not what is measured).
 */
function nativeBytes(): number {
  collectGarbage();
  const { rss, heapTotal } = process.memoryUsage();
  return rss - heapTotal;
}

const servers: P3Server[] = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const s of servers.splice(0)) await s.close();
});

async function start(gateway: Partial<GatewayConfig> = {}): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    instanceId: 'sse',
    storage: 'memory',
    logLevel: 'silent',
    gateway,
  });
  servers.push(await server.listen());
  return server;
}

interface SseEvent {
  readonly id: number;
  readonly version: number;
  readonly resumedFrom?: number;
  readonly patches: ReadonlyArray<Record<string, Record<string, unknown>>>;
}

/** A server-sent-events reader over a plain HTTP request: `pause()` stops reading the socket (a stalled reader). */
class SseReader {
  text = '';
  ended = false;
  private constructor(readonly response: IncomingMessage) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.text += chunk;
    });
    response.on('end', () => {
      this.ended = true;
    });
    response.on('error', () => {
      this.ended = true;
    });
    response.on('close', () => {
      this.ended = true;
    });
  }

  static open(port: number, room: string, headers: Record<string, string> = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const request = http.get({
        host: '127.0.0.1',
        port,
        path: `/v1/rooms/${room}/sync`,
        headers,
        agent: false,
      });
      request.on('response', (response) => {
        const reader = new SseReader(response);
        closers.push(() => request.destroy());
        resolve(reader);
      });
      request.on('error', reject);
    });
  }

  /** Complete events received so far. */
  events(): SseEvent[] {
    const blocks = this.text.split('\n\n');
    blocks.pop();
    return blocks.flatMap((block) => {
      const lines = block.split('\n');
      const id = lines.find((l) => l.startsWith('id: '));
      const data = lines.find((l) => l.startsWith('data: '));
      if (id === undefined || data === undefined) return [];
      return [{ id: Number(id.slice(4)), ...(JSON.parse(data.slice(6)) as Omit<SseEvent, 'id'>) }];
    });
  }

  lastId(): number {
    return this.events().at(-1)?.id ?? 0;
  }
}

/** Every version from `from` to `to` is there: as its own change event, or inside a resume event right after. */
function expectNothingMissed(events: readonly SseEvent[], from: number, to: number): void {
  let have = from;
  for (const event of events) {
    if (event.resumedFrom !== undefined) expect(event.resumedFrom, `resume at ${event.id}`).toBe(have);
    else expect(event.version, 'the next change').toBe(have + 1);
    have = event.version;
  }
  expect(have).toBe(to);
}

/** The `text` of `key` after applying every event's patches in order. */
function textOf(events: readonly SseEvent[], key: string): unknown {
  let text: unknown;
  for (const event of events)
    for (const patch of event.patches) if (patch[key]?.text !== undefined) text = patch[key].text;
  return text;
}

async function post(server: P3Server, room: string, key: string, text: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${server.port}/v1/rooms/${room}/changes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ patches: [{ [key]: { text } }] }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { version: number }).version;
}

async function metric(server: P3Server, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('server-sent events under slow readers', () => {
  it('[SSE-1] [SSE-2] keeps memory bounded with many stalled readers, and a reader that falls behind misses nothing', async () => {
    const server = await start({ sse: { maxLagMs: 600_000 } });
    const room = 'slow-readers';
    const base = await post(server, room, 'seed', '');
    const normal = await SseReader.open(server.port, room);
    const stalled = await Promise.all(Array.from({ length: 24 }, () => SseReader.open(server.port, room)));
    for (const reader of stalled) reader.response.pause();
    const before = nativeBytes();
    const body = 'x'.repeat(256 * 1024);
    let last = base;
    for (let i = 0; i < 48; i++) last = await post(server, room, `k${i % 4}`, `${i}${body}`);
    await waitFor(
      () => normal.lastId(),
      (id) => id === last,
      'the normal reader to get every change',
    );
    const grown = nativeBytes() - before;
    // Unbounded, uWS holds what the kernel does not take, ~9 MB per stalled reader: ~290 MB here. Bounded, the growth
    // is the test's own (~60 MB with no stalled reader at all: posts, the normal reader) plus under 1.5 MB a reader.
    expect(grown, `native memory grew by ${Math.round(grown / 1e6)} MB`).toBeLessThan(150 * 1024 * 1024);
    expect(
      await metric(server, 'p3_gateway_sse_backpressure_total{action="lagging"}'),
    ).toBeGreaterThanOrEqual(24);
    expectNothingMissed(normal.events(), base, last);
    expect(normal.events().every((e) => e.resumedFrom === undefined)).toBe(true);

    // A stalled reader that reads again gets what it has, then one resume event with everything it missed.
    const slow = stalled[0]!;
    slow.response.resume();
    await waitFor(
      () => slow.lastId(),
      (id) => id === last,
      'the slow reader to catch up',
      20_000,
    );
    const events = slow.events();
    expectNothingMissed(events, base, last);
    expect(events.at(-1)!.resumedFrom).toBeDefined();
    for (let k = 0; k < 4; k++) expect(textOf(events, `k${k}`)).toBe(`${44 + k}${body}`);
    expect(
      await metric(server, 'p3_gateway_sse_backpressure_total{action="caught_up"}'),
    ).toBeGreaterThanOrEqual(1);
    // Live again after the resume.
    const next = await post(server, room, 'after', 'live');
    await waitFor(
      () => slow.lastId(),
      (id) => id === next,
      'a live change after the resume',
    );
    expect(slow.events().at(-1)!.resumedFrom).toBeUndefined();
  }, 60_000);

  it('[SSE-3] closes a stream that stays behind, and its Last-Event-ID resume misses nothing', async () => {
    const server = await start({ sse: { maxLagMs: 500 } });
    const room = 'stuck-reader';
    const base = await post(server, room, 'seed', '');
    const stuck = await SseReader.open(server.port, room);
    stuck.response.pause();
    const body = 'y'.repeat(256 * 1024);
    let last = base;
    for (let i = 0; i < 40; i++) last = await post(server, room, `k${i % 3}`, `${i}${body}`);
    await waitFor(
      () => metric(server, 'p3_gateway_sse_backpressure_total{action="closed"}'),
      (n) => n === 1,
      'the stuck stream to be closed',
      10_000,
    );
    expect(await metric(server, 'p3_gateway_sse_streams')).toBe(0);
    stuck.response.resume();
    await until(() => stuck.ended, 10_000, 'the client to see the end');
    const had = stuck.lastId();
    expect(had).toBeLessThan(last);
    expectNothingMissed(stuck.events(), base, had);

    // What EventSource does next: reconnect with the last id it got.
    const again = await SseReader.open(server.port, room, { 'last-event-id': String(had) });
    await waitFor(
      () => again.lastId(),
      (id) => id === last,
      'the resume',
      10_000,
    );
    expectNothingMissed(again.events(), had, last);
    const all = [...stuck.events(), ...again.events()];
    // The last of the 40 writes to each key: k0 at 39, k1 at 37, k2 at 38.
    for (const [k, i] of [39, 37, 38].entries()) expect(textOf(all, `k${k}`)).toBe(`${i}${body}`);
  }, 60_000);
});
