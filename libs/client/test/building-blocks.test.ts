import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, P3Error, type WorldSchema } from '@p3/protocol';
import { ClockSync, TypedEmitter, interpolateAt } from '@p3/client';
import { Connection } from '../src/connection.js';
import { applyChanges, emptyWorld } from '../src/entity-state.js';
import { checkWrite } from '../src/write-guard.js';
import type { FrameWorld } from '../src/interpolation.js';
import { resolveOptions } from '../src/options.js';

describe('ClockSync', () => {
  it('[CLIENT-8] uses the lowest-RTT sample of the last eight: offset = serverTime + rtt/2 - receiveTime', () => {
    let now = 1000;
    const clock = new ClockSync({ now: () => now });
    expect(clock.serverFrame(50)).toBeUndefined();
    clock.addSample(0, 5000, 100); // rtt 100 -> offset 4950
    clock.addSample(200, 5210, 220); // rtt 20 -> offset 5000
    clock.addSample(300, 9999, 300 - 1); // negative rtt: ignored
    expect(clock.rtt).toBe(20);
    expect(clock.offset).toBe(5000);
    expect(clock.serverFrame(50)).toBe(Math.floor((1000 + 5000) / 50));
    for (let i = 0; i < 8; i++) clock.addSample(1000 + i, 7000, 1040 + i); // rtt 40 pushes the best one out
    expect(clock.rtt).toBe(40);
    now = 2000;
    expect(clock.serverTime()).toBe(2000 + 7000 + 20 - 1040);
  });

  it('[CLIENT-8] lastRtt is the latest sample: a latency rise shows at once while rtt keeps the lowest', () => {
    const clock = new ClockSync({ now: () => 0 });
    expect(clock.lastRtt).toBeUndefined();
    clock.addSample(0, 100, 10);
    clock.addSample(100, 300, 400);
    expect(clock.rtt).toBe(10);
    expect(clock.lastRtt).toBe(300);
  });
});

describe('Connection backoff', () => {
  it('[CLIENT-13] draws full-jitter delays between min and the doubling ceiling, capped at max', () => {
    const at = (random: number) =>
      new Connection(
        {
          url: 'ws://x',
          protocol: 'p3.json',
          transport: () => Promise.reject(new Error('unused')),
          minDelayMs: 100,
          maxDelayMs: 1000,
          random: () => random,
        },
        { open: () => undefined, message: () => undefined, close: () => false, error: () => undefined },
      );
    expect([0, 1, 2, 3, 4, 10].map((n) => at(0).backoffDelay(n))).toEqual([100, 100, 100, 100, 100, 100]);
    expect([0, 1, 2, 3, 4, 10].map((n) => at(0.999999).backoffDelay(n)).map(Math.round)).toEqual([
      200, 400, 800, 1000, 1000, 1000,
    ]);
  });
});

describe('Connection addresses', () => {
  it('[CLIENT-35] dials the next gateway of `fallbacks` after each drop, round robin', async () => {
    const dialed: string[] = [];
    // A socket that fails at once, as a dead gateway's does.
    class FailingSocket {
      readyState = 0;
      protocol = '';
      binaryType = 'arraybuffer';
      onopen: (() => void) | null = null;
      onmessage: ((event: { data: unknown }) => void) | null = null;
      onerror: (() => void) | null = null;
      onclose: ((event: { code: number; reason: string }) => void) | null = null;
      constructor(url: string) {
        dialed.push(url);
        setTimeout(() => this.onclose?.({ code: 1006, reason: '' }), 0);
      }
      send(): void {}
      close(): void {}
    }
    let closes = 0;
    const connection = new Connection(
      {
        url: 'ws://a/v1/connect',
        fallbackUrls: ['ws://b/v1/connect', 'ws://c/v1/connect'],
        protocol: 'p3.json',
        transport: () => Promise.resolve(FailingSocket as never),
        minDelayMs: 0,
        maxDelayMs: 0,
      },
      { open: () => undefined, message: () => undefined, close: () => ++closes < 5, error: () => undefined },
    );
    connection.start();
    await vi.waitFor(() => expect(closes).toBe(5));
    expect(dialed).toEqual(['a', 'b', 'c', 'a', 'b'].map((host) => `ws://${host}/v1/connect`));
  });
});

describe('checkWrite', () => {
  const schema: WorldSchema = {
    thing: {
      fields: {
        n: { dataType: 'integer', min: 0, max: 10, accessControl: 'client' },
        s: { dataType: 'string', accessControl: 'seed', maxLength: 3 },
      },
    },
  };
  const code = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      return error instanceof P3Error ? error.code : 'not a P3Error';
    }
    return 'no throw';
  };

  it('[CLIENT-9] clamps numbers, rounds integers, and throws the engine codes for forbidden writes', () => {
    expect(checkWrite(schema, 'thing', { n: 99, s: 'ab' }, true)).toEqual({ n: 10, s: 'ab' });
    expect(checkWrite(schema, 'thing', { n: 2.6 }, false)).toEqual({ n: 3 });
    expect(code(() => checkWrite(schema, 'thing', { s: 'x' }, false))).toBe(ErrorCode.SeedField);
    expect(code(() => checkWrite(schema, 'thing', { s: 'long' }, true))).toBe(ErrorCode.OutOfRange);
    expect(code(() => checkWrite(schema, 'thing', { z: 1 }, false))).toBe(ErrorCode.UnknownField);
    expect(code(() => checkWrite(schema, 'other', {}, true))).toBe(ErrorCode.UnknownEntityType);
    expect(code(() => checkWrite(schema, 'thing', { __proto__: 1 } as never, true))).toBe('no throw');
    expect(code(() => checkWrite(schema, 'thing', JSON.parse('{"__proto__": 1}') as never, true))).toBe(
      ErrorCode.UnknownField,
    );
    // Without a schema (nothing known yet) data passes; the server decides.
    expect(checkWrite(undefined, 'thing', { anything: [1] }, false)).toEqual({ anything: [1] });
  });
});

describe('interpolateAt', () => {
  const schema: WorldSchema = {
    dot: { fields: { x: { dataType: 'number', interpolate: true }, label: { dataType: 'string' } } },
  };
  const D = '0190d7a0-0000-7000-8000-0000000000dd';
  const held = (id: number, x: number, label: string): FrameWorld => ({
    frame: { id, type: 'verified', time: id * 100, events: [], entities: [], removed: [] },
    world: applyChanges(
      emptyWorld,
      [{ id: D, typeName: 'dot', created: true, owner: null, fields: { x, label } }],
      [],
    ),
  });
  const frames = [held(1, 0, 'a'), held(2, 10, 'b'), held(3, 30, 'c')];

  it('[CLIENT-7] blends interpolated fields linearly, takes the others from the later frame, never extrapolates', () => {
    expect(interpolateAt(frames, 150, 100, schema)[0]!.fields).toEqual({ x: 5, label: 'b' });
    expect(interpolateAt(frames, 275, 100, schema)[0]!.fields).toEqual({ x: 25, label: 'c' });
    expect(interpolateAt(frames, 200, 100, schema)[0]!.fields).toEqual({ x: 10, label: 'b' });
    expect(interpolateAt(frames, 9000, 100, schema)[0]!.fields).toEqual({ x: 30, label: 'c' });
    expect(interpolateAt(frames, 0, 100, schema)[0]!.fields).toEqual({ x: 0, label: 'a' });
    expect(interpolateAt([], 0, 100, schema)).toEqual([]);
  });
});

describe('TypedEmitter', () => {
  it('[CLIENT-14] isolates throwing listeners and reports them', () => {
    const reported: unknown[] = [];
    const events = new TypedEmitter<{ n: number }>((error) => reported.push(error));
    const got: number[] = [];
    events.on('n', () => {
      throw new Error('bad listener');
    });
    events.on('n', (n) => got.push(n));
    events.emit('n', 1);
    expect(got).toEqual([1]);
    expect(reported).toEqual([new Error('bad listener')]);
  });
});

describe('resolveOptions', () => {
  it('fills defaults, builds the URL and refuses bad configuration', () => {
    const o = resolveOptions({ host: '::1', port: 8000, instanceId: 2983209843 });
    expect(o).toMatchObject({
      url: 'ws://[::1]:8000/v1/connect',
      room: '2983209843',
      sendRate: 20,
      codec: 'binary',
      inputDelayFrames: 'arrival',
      minDelayMs: 250,
      maxDelayMs: 10_000,
      autoConnect: true,
    });
    expect(resolveOptions({ host: 'h', secure: true, path: '/p', instanceId: 'r' }).url).toBe('wss://h/p');
    expect(() => resolveOptions({ host: 'h', instanceId: 'r', sendRate: 0 })).toThrow(RangeError);
    expect(() =>
      resolveOptions({ host: 'h', instanceId: 'r', reconnect: { minDelayMs: 10, maxDelayMs: 5 } }),
    ).toThrow(RangeError);
    expect(() => resolveOptions({ host: '', instanceId: 'r' })).toThrow(RangeError);
  });
});
