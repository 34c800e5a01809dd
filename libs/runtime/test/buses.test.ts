import { decodeIdToken, encodeIdToken } from '../src/id-token.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requireNats, uniqueName } from '@p3/test-support';
import { capped } from '@p3/test-support/property';
import { MemoryBroker, MemoryBus } from '../src/adapters/memory-bus.js';
import { NatsBus } from '../src/adapters/nats-bus.js';
import { BusErrorCode, control, gatewayInbox, roomInput, roomOutput } from '../src/ports/bus.js';
import { describeBusContract } from './bus.contract.js';

// One prefix per run: parallel runs and other test files on the same server never see this traffic.
const prefix = uniqueName('p3t');

describeBusContract('memory', async ({ logger }) => {
  const broker = new MemoryBroker();
  const buses = [
    new MemoryBus({ broker, prefix, logger }),
    new MemoryBus({ broker, prefix, logger }),
    new MemoryBus({ broker, prefix, logger }),
  ] as const;
  return { buses, dispose: async () => void (await Promise.all(buses.map((bus) => bus.close()))) };
});

describeBusContract('nats', async ({ logger }) => {
  // requireNats first: it fails with a clear message when the server is down.
  const borrowed = await requireNats();
  const connection = { servers: '127.0.0.1:4222', reconnect: false };
  const buses = [
    new NatsBus({ connection: borrowed, prefix, logger }),
    await NatsBus.connect({ connection, prefix, logger }),
    await NatsBus.connect({ connection, prefix, logger }),
  ] as const;
  return {
    buses,
    dispose: async () => {
      await Promise.all(buses.map((bus) => bus.close()));
      await borrowed.close();
    },
  };
});

/** Any JS string, lone surrogates included (fc.string only yields well-formed ones). */
const anyId = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)) });

describe('bus subjects', () => {
  it('[BUS-1] encodes any id as one NATS token, reversibly (hence injectively)', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyId, fc.string({ unit: 'binary' }), fc.constantFrom('_', '~', '.', '*', '>', '')),
        (id) => {
          const token = encodeIdToken(id);
          return /^[A-Za-z0-9_~-]+$/.test(token) && decodeIdToken(token) === id;
        },
      ),
      capped({ numRuns: 1000 }),
    );
  });

  it('[BUS-1] distinct ids give distinct subjects', () => {
    fc.assert(
      fc.property(anyId, anyId, anyId, anyId, (t1, r1, t2, r2) => {
        fc.pre(t1 !== t2 || r1 !== r2);
        const [k1, k2] = [
          { tenant: t1, room: r1 },
          { tenant: t2, room: r2 },
        ];
        return roomInput(k1) !== roomInput(k2) && roomOutput(k1) !== roomInput(k2);
      }),
      capped({ numRuns: 500 }),
    );
  });

  it('[BUS-1] keeps usual ids readable and follows the documented layout', () => {
    expect(roomInput({ tenant: 'acme', room: 'lobby-1' })).toBe('acme.room.lobby-1.in');
    expect(roomOutput({ tenant: 'acme', room: 'a.b c' })).toBe('acme.room.a~002eb~0020c.out');
    expect(roomInput({ tenant: '', room: '~' })).toBe('~.room.~007e.in');
    expect(gatewayInbox('gw-7')).toBe('gateway.gw-7');
    expect(control()).toBe('control');
  });

  it('[BUS-1] refuses tokens it never produces, so each id has one spelling', () => {
    for (const token of ['', 'a.b', '~0041', '~005f', '~002E', '~00', 'a*', '~~002e'])
      expect(decodeIdToken(token)).toBeNull();
  });

  it('refuses ids too long for a NATS control line with BUS_SUBJECT_TOO_LONG', () => {
    expect(() => roomInput({ tenant: 't', room: 'é'.repeat(500) })).toThrow(
      expect.objectContaining({ code: BusErrorCode.SubjectTooLong }),
    );
  });

  it('refuses a prefix that is not one plain token with BUS_INVALID_PREFIX', async () => {
    for (const bad of ['', 'a.b', 'p3*', 'a b', 'x'.repeat(65)]) {
      expect(() => new MemoryBus({ prefix: bad })).toThrow(
        expect.objectContaining({ code: BusErrorCode.InvalidPrefix }),
      );
      await expect(
        NatsBus.connect({ connection: { servers: '127.0.0.1:4222' }, prefix: bad }),
      ).rejects.toMatchObject({ code: BusErrorCode.InvalidPrefix });
    }
  });
});

describe('MemoryBus', () => {
  it('buses on different brokers never meet, and unsubscribing leaves nothing behind', async () => {
    const broker = new MemoryBroker();
    const [a, b, stranger] = [new MemoryBus({ broker }), new MemoryBus({ broker }), new MemoryBus()];
    const subject = roomOutput({ tenant: 't', room: 'r' });
    const got: string[] = [];
    const mine = b.subscribe(subject, () => got.push('b'));
    stranger.subscribe(subject, () => got.push('stranger'));
    a.publish(subject, new Uint8Array([1]));
    await b.flush();
    expect(got).toEqual(['b']);
    mine.unsubscribe();
    expect(broker.subjectCount).toBe(0);
  });
});

describe('NatsBus', () => {
  it('publishes on <prefix>.<tenant>.room.<encoded room>.in, readable by any NATS client', async () => {
    const nc = await requireNats();
    const bus = new NatsBus({ connection: nc, prefix });
    const seen: string[] = [];
    nc.subscribe(`${prefix}.acme.room.lobby~002e1.in`, {
      callback: (_e, msg) => void seen.push(msg.string()),
    });
    await nc.flush();
    bus.publish(roomInput({ tenant: 'acme', room: 'lobby.1' }), new TextEncoder().encode('hello'));
    await bus.flush();
    await nc.flush();
    expect(seen).toEqual(['hello']);
    await bus.close();
    expect(nc.isClosed()).toBe(false);
    await nc.close();
  });

  it('closes a bus that opened its own connection, and reports an unreachable server as BUS_TRANSPORT', async () => {
    const bus = await NatsBus.connect({ connection: { servers: '127.0.0.1:4222' }, prefix });
    await bus.close();
    await expect(bus.flush()).rejects.toMatchObject({ code: BusErrorCode.Closed });
    await expect(
      NatsBus.connect({ connection: { servers: '127.0.0.1:1', reconnect: false, timeout: 500 }, prefix }),
    ).rejects.toMatchObject({ code: BusErrorCode.Transport });
  });
});
