import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, waitFor } from '@p3/test-support';
import type { Frame } from '@p3/protocol';
import {
  isPersistedOutbound,
  type IndexedDbOfflineStore,
  type P3Client,
  type PersistedOutbound,
} from '@p3/client';
import { P3Server } from '@p3/server';

/**
 * [CLIENT-12] with the real IndexedDbOfflineStore: the SDK bundled for the browser (esbuild, in memory), served
 * by a P3Server, driven in headless Chromium. The page exposes the two classes; every step runs in the page
 * through `page.evaluate`.
 */

const room = 'offline-e2e';
const here = fileURLToPath(new URL('.', import.meta.url));

/** What the test page puts on `window`. */
interface TestWindow {
  p3: { IndexedDbOfflineStore: typeof IndexedDbOfflineStore; P3Client: typeof P3Client };
  client?: P3Client;
  clientErrors?: string[];
}

const entry = `
import { IndexedDbOfflineStore, P3Client } from '@p3/client';
Object.assign(window, { p3: { IndexedDbOfflineStore, P3Client } });
`;
const html = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><link rel="icon" href="data:," /><title>offline store</title></head>
  <body><script type="module" src="/offline-store-test.js"></script></body>
</html>
`;

let server: P3Server;
let browser: Browser;
let url: string;
const frames: Frame[] = [];

async function testFiles(): Promise<Map<string, { body: Uint8Array; type: string }>> {
  const result = await build({
    stdin: { contents: entry, resolveDir: here, sourcefile: 'offline-store-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    external: ['ws'],
    logLevel: 'silent',
  });
  const script = result.outputFiles[0];
  if (!script) throw new Error('the test bundle produced no output');
  const page = { body: new TextEncoder().encode(html), type: 'text/html; charset=utf-8' };
  return new Map([
    ['/', page],
    ['/index.html', page],
    ['/offline-store-test.js', { body: script.contents, type: 'text/javascript; charset=utf-8' }],
  ]);
}

beforeAll(async () => {
  server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    tickRate: 30,
    instanceId: room,
    storage: 'memory',
    logLevel: 'silent',
    staticFiles: await testFiles(),
  });
  server.createEntityType('note', { fields: { text: { dataType: 'string', accessControl: 'client' } } });
  server.on('frame', (frame, instanceId) => {
    if (instanceId === room) frames.push(frame);
  });
  await server.listen();
  url = `http://127.0.0.1:${server.port}/`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * A page with the bundle loaded, in a browser context of its own (a fresh profile: empty IndexedDB). Page errors
 * are collected (and asserted empty by the tests).
 */
async function openPage(
  context?: BrowserContext,
): Promise<{ context: BrowserContext; page: Page; pageErrors: string[] }> {
  const ctx = context ?? (await browser.newContext());
  const page = await ctx.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  await ready(page);
  return { context: ctx, page, pageErrors };
}

async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => 'p3' in window, undefined, { timeout: 10_000 });
}

async function reload(page: Page): Promise<void> {
  await page.reload();
  await ready(page);
  // A new document: nothing of the previous page's JavaScript state is left.
  expect(await page.evaluate(() => (window as unknown as TestWindow).client === undefined)).toBe(true);
}

/** What the IndexedDB store `name` holds, read by a fresh store instance in the page. */
function stored(page: Page, name: string): Promise<PersistedOutbound | null> {
  return page.evaluate(
    (db) => new (window as unknown as TestWindow).p3.IndexedDbOfflineStore(db).load(),
    name,
  );
}

/** Resolves once the room has broadcast `count` more frames (a clock in ticks). */
function moreFrames(count: number): Promise<void> {
  const target = frames.length + count;
  return waitFor(
    () => frames.length,
    (n) => n >= target,
    `${count} more frames`,
  ).then(() => undefined);
}

/** A queue as the client persists it (passed into pages as JSON text: playwright's argument types cannot unbox it). */
const queue: PersistedOutbound = {
  format: 'p3.outbound/1',
  clientId: 'c0ffee00c0ffee00c0ffee00c0ffee00',
  next: { stamp: 1_700_000_000, seq: 4 },
  pending: [
    {
      stamp: 1_700_000_000,
      seq: 1,
      op: {
        op: 'create',
        entityId: '0190d7a0-0000-7000-8000-0000000000a1',
        typeName: 'note',
        data: { text: 'héllo ✓', size: 1.5 },
      },
    },
    {
      stamp: 1_700_000_000,
      seq: 2,
      op: { op: 'event', name: 'ping', eventType: 'test', data: { nested: [1, 'two', { three: null }] } },
    },
    {
      stamp: 1_700_000_000,
      seq: 3,
      op: { op: 'input', entityId: '0190d7a0-0000-7000-8000-0000000000a1', input: { up: true, down: false } },
    },
  ],
};

describe('IndexedDbOfflineStore in headless Chromium', () => {
  it('[CLIENT-12] save() then load() round-trips the queue (clientId, next stamp/seq, pending ops); the last save wins', async () => {
    const { context, page, pageErrors } = await openPage();
    expect(
      await page.evaluate(() => (window as unknown as TestWindow).p3.IndexedDbOfflineStore.isAvailable()),
    ).toBe(true);
    expect(await stored(page, 'p3-roundtrip')).toBeNull();
    const loaded = await page.evaluate(async (json) => {
      const store = new (window as unknown as TestWindow).p3.IndexedDbOfflineStore('p3-roundtrip');
      await store.save(JSON.parse(json) as PersistedOutbound);
      return store.load();
    }, JSON.stringify(queue));
    expect(loaded).toEqual(queue);
    expect(isPersistedOutbound(loaded)).toBe(true);

    const shorter: PersistedOutbound = { ...queue, next: { stamp: queue.next.stamp, seq: 5 }, pending: [] };
    const last = await page.evaluate(
      async (json) => {
        const [first, second] = JSON.parse(json) as [PersistedOutbound, PersistedOutbound];
        const store = new (window as unknown as TestWindow).p3.IndexedDbOfflineStore('p3-roundtrip');
        await store.save(first);
        await store.save(second);
        return store.load();
      },
      JSON.stringify([queue, shorter]),
    );
    expect(last).toEqual(shorter);
    // Another key in the same database is another queue.
    const other = await page.evaluate(() =>
      new (window as unknown as TestWindow).p3.IndexedDbOfflineStore('p3-roundtrip', 'other-room').load(),
    );
    expect(other).toBeNull();
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('[CLIENT-12] what was saved survives a page reload', async () => {
    const { context, page, pageErrors } = await openPage();
    await page.evaluate(
      (json) =>
        new (window as unknown as TestWindow).p3.IndexedDbOfflineStore('p3-reload').save(
          JSON.parse(json) as PersistedOutbound,
        ),
      JSON.stringify(queue),
    );
    await reload(page);
    expect(await stored(page, 'p3-reload')).toEqual(queue);
    // And from another tab of the same browser profile.
    const { page: tab, pageErrors: tabErrors } = await openPage(context);
    expect(await stored(tab, 'p3-reload')).toEqual(queue);
    expect([...pageErrors, ...tabErrors]).toEqual([]);
    await context.close();
  });

  it('[CLIENT-12] [CLIENT-11] ops made offline survive a reload; the reloaded page reuses the client id and the server applies each op once', async () => {
    const { context, page, pageErrors } = await openPage();

    // Page 1: a client that never connects; everything it does goes to the offline queue (and to IndexedDB).
    const made = await page.evaluate((instanceId) => {
      const w = window as unknown as TestWindow;
      const client = new w.p3.P3Client({
        host: location.hostname,
        port: Number(location.port),
        instanceId,
        offlineStore: new w.p3.IndexedDbOfflineStore('p3-test'),
        autoConnect: false,
      });
      w.client = client;
      const first = client.createEntity('note', { text: 'offline 1' });
      const second = client.createEntity('note', { text: 'offline 2' });
      client.updateEntity(first, { text: 'offline 1b' });
      client.emitEvent({ name: 'offline-event', type: 'test', data: { n: 1 } });
      return {
        clientId: client.clientId,
        first,
        second,
        pending: client.pendingOps,
        connected: client.connected,
      };
    }, room);
    expect(made).toMatchObject({ pending: 4, connected: false });

    const saved = await waitFor(
      () => stored(page, 'p3-test'),
      (s) => s !== null && s.pending.length === 4,
      'the offline queue to reach IndexedDB',
    );
    expect(saved!.clientId).toBe(made.clientId);
    expect(saved!.pending.map((p) => [p.op.op, p.seq])).toEqual([
      ['create', 1],
      ['create', 2],
      ['update', 3],
      ['event', 4],
    ]);
    expect(new Set(saved!.pending.map((p) => p.stamp)).size).toBe(1);
    expect(saved!.next).toEqual({ stamp: saved!.pending[0]!.stamp, seq: 5 });
    // Nothing reached the server: the page never connected.
    expect(server.getConnections(room)).toEqual([]);
    expect(server.getEntities('note')).toEqual([]);

    // The page goes away without a goodbye.
    await reload(page);

    // Page 2: a new client with the same store connects and replays the queue.
    const resumed = await page.evaluate(async (instanceId) => {
      const w = window as unknown as TestWindow;
      const client = new w.p3.P3Client({
        host: location.hostname,
        port: Number(location.port),
        instanceId,
        offlineStore: new w.p3.IndexedDbOfflineStore('p3-test'),
        autoConnect: false,
      });
      const errors: string[] = [];
      client.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
      client.on('reject', (r) => errors.push(`rejected ${r.code}: ${r.reason}`));
      w.client = client;
      w.clientErrors = errors;
      await client.connect();
      return { clientId: client.clientId, connectionId: client.connectionId };
    }, room);
    expect(resumed.clientId).toBe(made.clientId);
    const connections = server.getConnections(room);
    expect(connections.map((c) => [c.id, c.clientId])).toEqual([[resumed.connectionId, made.clientId]]);

    await waitFor(
      () => page.evaluate(() => (window as unknown as TestWindow).client!.pendingOps),
      (n) => n === 0,
      'the server to acknowledge the replayed ops',
    );
    await waitFor(
      () => server.getEntities('note').map((e) => e.get('text')),
      (texts) => texts.includes('offline 1b') && texts.includes('offline 2'),
      'the replayed ops to apply',
    );
    await moreFrames(5);

    // Each op's effect exactly once.
    const notes = server.getEntities('note');
    expect(notes.map((e) => e.id).sort()).toEqual([made.first, made.second].sort());
    expect(notes.find((e) => e.id === made.first)!.get('text')).toBe('offline 1b');
    expect(notes.find((e) => e.id === made.second)!.get('text')).toBe('offline 2');
    expect(notes.every((e) => e.owner === resumed.connectionId)).toBe(true);
    const events = frames.flatMap((f) => f.events).filter((e) => e.name === 'offline-event');
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]!.data).toEqual({ n: 1 });

    // The page sees the same world, and the persisted queue is empty again.
    const view = await page.evaluate(
      ([first, second]) => {
        const client = (window as unknown as TestWindow).client!;
        return [client.getEntity(first)?.fields.text, client.getEntity(second)?.fields.text];
      },
      [made.first, made.second] as const,
    );
    expect(view).toEqual(['offline 1b', 'offline 2']);
    const emptied = await waitFor(
      () => stored(page, 'p3-test'),
      (s) => s !== null && s.pending.length === 0,
      'the acknowledged queue to be persisted',
    );
    // Same identity and the same session stamp, numbering on after the replayed ops.
    expect(emptied).toEqual({ ...saved, pending: [] });
    expect(await page.evaluate(() => (window as unknown as TestWindow).clientErrors)).toEqual([]);
    expect(pageErrors).toEqual([]);

    await page.evaluate(() => (window as unknown as TestWindow).client!.disconnect());
    await context.close();
  });
});
