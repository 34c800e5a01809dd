import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import { describe, expect, it } from 'vitest';
import {
  MemoryStorage,
  Room,
  type ComponentData,
  type LoggedChange,
  type Patch,
  type RoomSnapshot,
} from '../src/index.js';
import { EcsSyncTestClient } from '@p3/test-support';
import { ControlledLog, settle } from './helpers/ControlledLog.js';
import { CountingStorage } from './helpers/CountingStorage.js';
import { MemoryConnection } from './helpers/MemoryConnection.js';

type Op =
  | { kind: 'edit'; c: number; patch: Patch }
  | { kind: 'http'; patch: Patch }
  | { kind: 'drop' | 'connect'; c: number }
  | { kind: 'save' };

const clientIndex = fc.integer({ min: 0, max: 2 });
// Few keys, optional fields and deletions: keys are often deleted and re-created with other fields.
const component: fc.Arbitrary<ComponentData> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ _exists: false }) },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        x: fc.integer({ min: 0, max: 9 }),
        y: fc.constantFrom('p', 'q'),
        z: fc.array(fc.nat(3), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    ),
  },
);
const patch: fc.Arbitrary<Patch> = fc.dictionary(fc.constantFrom('a', 'b', 'SINGLETON/s'), component, {
  minKeys: 1,
  maxKeys: 2,
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('edit' as const), c: clientIndex, patch }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('http' as const), patch }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), c: clientIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('connect' as const), c: clientIndex }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'save' as const }) },
);

/** The room as a client sees it: the snapshot, and the reconnect answer for every lastTimestamp. */
interface Observed {
  readonly snapshot: RoomSnapshot;
  readonly diffs: unknown[];
}

function observe(room: Room): Observed {
  const diffs = [];
  for (let t = 0; t <= room.getVersion() + 1; t++) diffs.push(room.diffSince(t));
  return { snapshot: structuredClone(room.getSnapshot()), diffs };
}

/**
 * Runs the ops on a room with a log (appends durable at once) and a small tombstone retention (saves prune), and
 * keeps what the room looked like at each version (again after a save, which may prune).
 */
async function run(ops: readonly Op[]) {
  const storage = new CountingStorage();
  const log = new ControlledLog({ auto: true });
  const room = new Room({ storage, log, tombstoneRetention: 3, onError: () => undefined });
  await room.load();
  const clients = ['alice', 'bob', 'carol'].map((id) => new EcsSyncTestClient(id));
  const live: (MemoryConnection | undefined)[] = [];
  const byVersion = new Map<number, Observed>([[0, observe(room)]]);
  let sessions = 0;
  for (const o of ops) {
    switch (o.kind) {
      case 'edit':
        clients[o.c]!.edit(o.patch);
        live[o.c]?.deliverUp();
        break;
      case 'http':
        room.applyPatches([o.patch], 'http');
        break;
      case 'drop':
        live[o.c]?.clientDrops({ lose: false, zombie: false });
        live[o.c] = undefined;
        break;
      case 'connect':
        live[o.c] ??= await MemoryConnection.open(room, clients[o.c]!, `s${++sessions}`);
        live[o.c]!.deliverUp();
        break;
      case 'save':
        await room.flush();
        break;
    }
    await settle();
    for (const connection of live) connection?.deliverAllDown();
    byVersion.set(room.getVersion(), observe(room));
  }
  return { room, storage, log, byVersion };
}

describe('[LOG-2] recovery property', () => {
  it('[LOG-2][LOG-3] the last saved snapshot + any durable prefix of the log recovers exactly the room after those changes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const { room, storage, log, byVersion } = await run(ops);
        const saved = storage.saves.at(-1) ?? null;
        const savedAt = saved?.timestamp ?? 0;
        // A crash keeps a prefix of the appends (they become durable in order); the snapshot covers what it holds.
        for (let kept = 0; kept <= log.history.length; kept++) {
          const durable: LoggedChange[] = log.history.slice(0, kept);
          const recovered = new Room({
            storage: new MemoryStorage(saved),
            log: new ControlledLog({ durable }),
            onError: () => undefined,
          });
          await recovered.load();
          const version = Math.max(savedAt, durable.at(-1)?.timestamp ?? 0);
          expect(observe(recovered)).toEqual(byVersion.get(version));
          // It continues after the highest durable version.
          expect(recovered.applyPatches([{ n: { x: 1 } }], 'http')).toBe(version + 1);
        }
        // The live log itself, truncated by the saves, recovers the room as it is.
        const full = new Room({ storage: new MemoryStorage(saved), log, onError: () => undefined });
        await full.load();
        expect(observe(full)).toEqual(observe(room));
      }),
      capped({ numRuns: 150 }, 20_000),
    );
  });
});

type LiveOp =
  | { kind: 'edit'; c: number; document?: Patch; ephemeral?: ComponentData }
  | { kind: 'up' | 'down' | 'flush' | 'connect'; c: number }
  | { kind: 'drop'; c: number; lose: boolean }
  | { kind: 'durable'; count: number }
  | { kind: 'save' | 'crash' };

const liveOp: fc.Arbitrary<LiveOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('edit' as const),
      c: clientIndex,
      document: fc.option(patch, { nil: undefined }),
      ephemeral: fc.option(fc.record({ x: fc.nat(9) }), { nil: undefined }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constantFrom('up' as const, 'down' as const), c: clientIndex }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flush' as const), c: clientIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('connect' as const), c: clientIndex }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('drop' as const), c: clientIndex, lose: fc.boolean() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('durable' as const), count: fc.integer({ min: 1, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'save' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
);

/**
 * Clients on a logged room whose appends become durable at random points, and crashes (the process dies: pending
 * appends, unsaved state and messages in flight are lost; the room comes back from the saved snapshot + the durable
 * log). Every client must end equal to the room: no client ever holds a change or a version the room lost.
 */
class CrashSimulation {
  private readonly disk = new MemoryStorage();
  log = new ControlledLog();
  room!: Room;
  private alive = { value: true };
  readonly clients = ['alice', 'bob', 'carol'].map((id) => new EcsSyncTestClient(id));
  readonly live: (MemoryConnection | undefined)[] = [undefined, undefined, undefined];
  private sessions = 0;

  async start(): Promise<void> {
    const alive = { value: true };
    this.alive = alive;
    const disk = this.disk;
    // A dead process writes nothing more.
    const storage = {
      load: () => disk.load(),
      save: (snapshot: RoomSnapshot) => (alive.value ? disk.save(snapshot) : Promise.resolve()),
    };
    this.room = new Room({ storage, log: this.log, saveThrottleMs: 60_000, onError: () => undefined });
    await this.room.load();
  }

  async run(o: LiveOp): Promise<void> {
    switch (o.kind) {
      case 'edit': {
        const client = this.clients[o.c]!;
        const ephemeral =
          o.ephemeral === undefined ? undefined : { [`${client.clientId}/Cursor`]: o.ephemeral };
        if (o.document !== undefined || ephemeral !== undefined) client.edit(o.document, ephemeral);
        break;
      }
      case 'up':
        this.live[o.c]?.deliverUp();
        break;
      case 'down':
        this.live[o.c]?.deliverDown();
        break;
      case 'flush':
        this.live[o.c]?.flush();
        break;
      case 'connect':
        this.live[o.c] ??= await MemoryConnection.open(this.room, this.clients[o.c]!, `s${++this.sessions}`);
        break;
      case 'drop':
        this.live[o.c]?.clientDrops({ lose: o.lose, zombie: false });
        this.live[o.c] = undefined;
        break;
      case 'durable':
        this.log.release(o.count);
        break;
      case 'save':
        void this.room.flush().catch(() => undefined);
        break;
      case 'crash': {
        this.alive.value = false;
        for (const connection of this.live) connection?.clientDrops({ lose: true, zombie: true });
        this.live.fill(undefined);
        // What the dead process had not made durable is gone with it.
        this.log = new ControlledLog({ durable: this.log.durable });
        await this.start();
        break;
      }
    }
    await settle();
  }

  async settleAll(): Promise<void> {
    for (const c of [0, 1, 2]) await this.run({ kind: 'connect', c });
    for (let round = 0; round < 200; round++) {
      this.log.release();
      await settle();
      const connections = this.live.filter((l): l is MemoryConnection => l !== undefined);
      for (const connection of connections) connection.flush();
      await settle();
      if (this.log.pending.length === 0 && connections.every((l) => l.idle)) return;
    }
    throw new Error('the simulation did not settle');
  }

  check(): void {
    const state = Object.fromEntries(
      Object.entries(this.room.getSnapshot().state).filter(([, data]) => data._exists !== false),
    );
    for (const client of this.clients) {
      expect(client.pendingCount(), `${client.clientId} has unacknowledged edits`).toBe(0);
      expect(client.document(), `${client.clientId}'s document`).toEqual(state);
      expect(client.lastTimestamp, `${client.clientId}'s lastTimestamp`).toBe(this.room.getVersion());
    }
  }
}

describe('[LOG-1] convergence with a log and crashes', () => {
  it('[LOG-1][LOG-2] with appends durable at random points and crashes, every client ends equal to the room', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(liveOp, { maxLength: 60 }), async (ops) => {
        const simulation = new CrashSimulation();
        await simulation.start();
        for (const c of [0, 1, 2]) await simulation.run({ kind: 'connect', c });
        for (const o of ops) await simulation.run(o);
        await simulation.settleAll();
        simulation.check();
      }),
      capped({ numRuns: 500 }, 20_000),
    );
  });
});

describe('[LOG-1] named crash cases', () => {
  // Found by the property with acks sent before the append resolved: alice kept a change the crash lost.
  it('[LOG-1] an ack never outruns its append: a crash cannot leave the sender holding a lost change', async () => {
    const simulation = new CrashSimulation();
    await simulation.start();
    for (const c of [0, 1, 2]) await simulation.run({ kind: 'connect', c });
    const ops: LiveOp[] = [
      { kind: 'edit', c: 0, document: { a: {} } },
      { kind: 'flush', c: 0 },
      { kind: 'crash' },
    ];
    for (const o of ops) await simulation.run(o);
    await simulation.settleAll();
    simulation.check();
  });

  // A broadcast sent before its change was durable would leave bob holding a change and a version the room lost
  // in the crash; the room then re-issues that version to another change and bob's reconnect diff skips it.
  it('[LOG-1] a change lost in a crash never reached another client, so its re-issued version cannot mislead one', async () => {
    const simulation = new CrashSimulation();
    await simulation.start();
    for (const c of [0, 1]) await simulation.run({ kind: 'connect', c });
    await simulation.settleAll();
    const ops: LiveOp[] = [
      { kind: 'edit', c: 0, document: { a: { x: 1 } } },
      { kind: 'flush', c: 0 },
      { kind: 'flush', c: 1 },
      { kind: 'crash' },
      { kind: 'connect', c: 0 },
      { kind: 'flush', c: 0 },
      { kind: 'edit', c: 0, document: { b: { x: 2 } } },
      { kind: 'flush', c: 0 },
      { kind: 'durable', count: 3 },
    ];
    for (const o of ops) await simulation.run(o);
    await simulation.settleAll();
    simulation.check();
  });
});
