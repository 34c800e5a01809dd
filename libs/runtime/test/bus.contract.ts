import { afterEach, describe, expect, it } from 'vitest';
import {
  BusErrorCode,
  control,
  gatewayInbox,
  roomInput,
  roomOutput,
  type Bus,
  type BusOptions,
  type BusSubject,
} from '../src/ports/bus.js';

/** Three or more buses on one shared transport (like three processes on one NATS server). */
export interface BusFixture {
  readonly buses: readonly [Bus, Bus, Bus, ...Bus[]];
  /** Closes the buses (again: close is idempotent) and whatever the fixture opened. */
  dispose(): Promise<void>;
}

export type MakeBusFixture = (options: Required<Pick<BusOptions, 'logger'>>) => Promise<BusFixture>;

/** Records what one handler received; `waitFor` is the latch tests wait on instead of sleeping. */
class Inbox {
  readonly received: Uint8Array[] = [];
  private waiter: { count: number; resolve: () => void } | undefined;
  readonly handler = (payload: Uint8Array): void => {
    this.received.push(payload);
    if (this.waiter !== undefined && this.received.length >= this.waiter.count) this.waiter.resolve();
  };

  waitFor(count: number, timeoutMs = 2000): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out: ${this.received.length} of ${count} messages arrived`)),
        timeoutMs,
      );
      this.waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        },
      };
    });
  }
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const u32 = (n: number): Uint8Array => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
};
const readU32 = (payload: Uint8Array): number =>
  new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);

/**
 * Every Bus keeps these promises (see the interface doc in src/ports/bus.ts). Run against each adapter; the
 * fixture gives each run its own subject prefix.
 */
export function describeBusContract(name: string, make: MakeBusFixture): void {
  describe(`Bus contract: ${name}`, () => {
    let fixture: BusFixture | undefined;
    const errors: unknown[] = [];
    let rooms = 0;
    // Rooms differ per test so a late message of one test can never satisfy another.
    const key = (tenant = 't1') => ({ tenant, room: `room-${++rooms}` });

    const setUp = async (): Promise<readonly [Bus, Bus, Bus, ...Bus[]]> => {
      errors.length = 0;
      fixture = await make({ logger: { error: (detail: unknown) => void errors.push(detail) } });
      return fixture.buses;
    };
    afterEach(async () => {
      await fixture?.dispose();
      fixture = undefined;
    });

    /** Subscribes `inbox` on `bus` and waits until the subscription is live (the port's flush rule). */
    const live = async (bus: Bus, subject: BusSubject, inbox: Inbox) => {
      const subscription = bus.subscribe(subject, inbox.handler);
      await bus.flush();
      return subscription;
    };

    it('[BUS-2] delivers binary payloads unchanged as plain Uint8Arrays: empty, every byte value, 64 KiB', async () => {
      const [a, b] = await setUp();
      const subject = roomOutput(key());
      const inbox = new Inbox();
      await live(b, subject, inbox);
      const big = new Uint8Array(64 * 1024).map((_, i) => (i * 131 + 7) & 0xff);
      const payloads = [new Uint8Array(0), Uint8Array.from({ length: 256 }, (_, i) => i), big];
      for (const payload of payloads) a.publish(subject, payload);
      await inbox.waitFor(3);
      // Compared as base64: a deep equal of 64 KiB element by element takes most of a second.
      const base64 = (payload: Uint8Array) => Buffer.from(payload).toString('base64');
      expect(inbox.received.map(base64)).toEqual(payloads.map(base64));
      // Plain Uint8Arrays, not Node Buffers: a handler's `slice()` must copy as it does everywhere else.
      for (const payload of inbox.received) expect(Object.getPrototypeOf(payload)).toBe(Uint8Array.prototype);
    });

    it('[BUS-2] copies: a publisher reusing its buffer or a handler mutating its copy changes nothing', async () => {
      const [a, b, c] = await setUp();
      const subject = roomOutput(key());
      const first = new Inbox();
      const second = new Inbox();
      b.subscribe(subject, (payload) => {
        first.handler(payload);
        payload.fill(0);
      });
      await live(c, subject, second);
      await b.flush();
      const buffer = bytes(1, 2, 3);
      a.publish(subject, buffer);
      buffer.set([9, 9, 9]);
      a.publish(subject, buffer);
      await Promise.all([first.waitFor(2), second.waitFor(2)]);
      expect(second.received).toEqual([bytes(1, 2, 3), bytes(9, 9, 9)]);
    });

    it('[BUS-2] delivers asynchronously, never inside publish', async () => {
      const [a] = await setUp();
      const subject = roomInput(key());
      const inbox = new Inbox();
      await live(a, subject, inbox);
      a.publish(subject, bytes(1));
      expect(inbox.received).toHaveLength(0);
      await inbox.waitFor(1);
    });

    it('[BUS-2] fans out to every subscriber, on this bus and others', async () => {
      const [a, b, c] = await setUp();
      const subject = roomOutput(key());
      const inboxes = [new Inbox(), new Inbox(), new Inbox(), new Inbox()];
      await live(a, subject, inboxes[0] as Inbox);
      await live(b, subject, inboxes[1] as Inbox);
      await live(c, subject, inboxes[2] as Inbox);
      await live(c, subject, inboxes[3] as Inbox);
      a.publish(subject, text('frame'));
      await Promise.all(inboxes.map((inbox) => inbox.waitFor(1)));
      for (const inbox of inboxes) expect(inbox.received).toEqual([text('frame')]);
    });

    it('[BUS-3] unsubscribe stops delivery, even of messages already on their way', async () => {
      const [a, b] = await setUp();
      const subject = roomOutput(key());
      const gone = new Inbox();
      const kept = new Inbox();
      const subscription = await live(b, subject, gone);
      await live(b, subject, kept);
      a.publish(subject, bytes(1));
      subscription.unsubscribe();
      subscription.unsubscribe();
      a.publish(subject, bytes(2));
      await kept.waitFor(2);
      await b.flush();
      expect(gone.received).toEqual([]);
    });

    it('[BUS-1] keeps rooms, tenants, directions, inboxes and look-alike ids apart', async () => {
      const [a, b] = await setUp();
      const suffix = `${++rooms}`;
      // Pairs that a naive join or escape would merge: separators, wildcards, the escape character itself.
      const ids = [
        'a.b',
        'a_b',
        'a~002eb',
        '~',
        'a',
        'a.b.c',
        '*',
        '>',
        ' ',
        '',
        '_',
        'é',
        'e\u0301',
        '\uD800',
        '🎲',
      ];
      const subjects: BusSubject[] = [control()];
      for (const id of ids) {
        subjects.push(
          roomInput({ tenant: 't', room: id + suffix }),
          roomOutput({ tenant: 't', room: id + suffix }),
        );
        subjects.push(roomInput({ tenant: id, room: suffix }), roomOutput({ tenant: id, room: suffix }));
        subjects.push(gatewayInbox(id + suffix));
      }
      expect(new Set(subjects).size).toBe(subjects.length);
      const inboxes = subjects.map(() => new Inbox());
      subjects.forEach((subject, i) => b.subscribe(subject, (inboxes[i] as Inbox).handler));
      await b.flush();
      subjects.forEach((subject, i) => a.publish(subject, u32(i)));
      await Promise.all(inboxes.map((inbox) => inbox.waitFor(1)));
      // A second round trip lets any misrouted copy arrive before we count.
      await a.flush();
      await b.flush();
      inboxes.forEach((inbox, i) => expect(inbox.received.map(readU32), subjects[i]).toEqual([i]));
    });

    it('[BUS-2] keeps each publisher’s order over 1,000 messages', async () => {
      const [a, b, c] = await setUp();
      const subject = roomInput(key());
      const inbox = new Inbox();
      await live(b, subject, inbox);
      for (let i = 0; i < 1000; i++) {
        a.publish(subject, u32(i));
        c.publish(subject, u32(1_000_000 + i));
      }
      await inbox.waitFor(2000, 4000);
      const seen = inbox.received.map(readU32);
      const expected = Array.from({ length: 1000 }, (_, i) => i);
      expect(seen.filter((n) => n < 1_000_000)).toEqual(expected);
      expect(seen.filter((n) => n >= 1_000_000)).toEqual(expected.map((i) => 1_000_000 + i));
    });

    it('[BUS-3] a throwing handler is reported and stops neither itself nor the others', async () => {
      const [a, b] = await setUp();
      const subject = roomOutput(key());
      let thrown = 0;
      b.subscribe(subject, () => {
        thrown++;
        throw new Error('handler bug');
      });
      const inbox = new Inbox();
      await live(b, subject, inbox);
      for (let i = 0; i < 3; i++) a.publish(subject, u32(i));
      await inbox.waitFor(3);
      expect(inbox.received.map(readU32)).toEqual([0, 1, 2]);
      expect(thrown).toBe(3);
      expect(errors).toHaveLength(3);
      // The transport is still healthy afterwards.
      a.publish(subject, u32(3));
      await inbox.waitFor(4);
    });

    it('[BUS-3] close stops delivery to that bus, and using it afterwards fails with BUS_CLOSED', async () => {
      const [a, b, c] = await setUp();
      const subject = roomOutput(key());
      const closed = new Inbox();
      const open = new Inbox();
      await live(b, subject, closed);
      await live(c, subject, open);
      a.publish(subject, bytes(1));
      await closed.waitFor(1);
      a.publish(subject, bytes(2));
      // Closed while message 2 may be on its way: it must not reach the handler.
      const closing = b.close();
      a.publish(subject, bytes(3));
      await closing;
      await b.close();
      await open.waitFor(3);
      await c.flush();
      expect(closed.received).toEqual([bytes(1)]);
      expect(() => b.publish(subject, bytes(3))).toThrow(
        expect.objectContaining({ code: BusErrorCode.Closed }),
      );
      expect(() => b.subscribe(subject, () => undefined)).toThrow(
        expect.objectContaining({ code: BusErrorCode.Closed }),
      );
      await expect(b.flush()).rejects.toMatchObject({ code: BusErrorCode.Closed });
    });

    it('[BUS-2] flush resolves after publishes (and on an idle bus); what was published arrives', async () => {
      const [a, b] = await setUp();
      await a.flush();
      const subject = roomInput(key());
      const inbox = new Inbox();
      await live(b, subject, inbox);
      for (let i = 0; i < 100; i++) a.publish(subject, u32(i));
      await a.flush();
      await inbox.waitFor(100);
    });

    it('[BUS-2] refuses a payload above maxPayload with BUS_PAYLOAD_TOO_LARGE', async () => {
      const [a] = await setUp();
      expect(a.maxPayload).toBeGreaterThanOrEqual(64 * 1024);
      expect(() => a.publish(roomInput(key()), new Uint8Array(a.maxPayload + 1))).toThrow(
        expect.objectContaining({ code: BusErrorCode.PayloadTooLarge }),
      );
    });
  });
}
