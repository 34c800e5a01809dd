import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import {
  FieldStore,
  SequenceReceiver,
  UndoLog,
  World,
  applyStoreLogChanges,
  emptyWorldSnapshot,
  recoverWorldSnapshot,
  type StoreLogChange,
  type StoreSnapshot,
  type WorldLogRecord,
  type WorldSnapshot,
} from '@p3/engine';
import type { Op } from '@p3/protocol';
import { scriptedLogic, scriptPlayers } from './world-fixtures.js';

// A durable room log holds one physical redo record per step. Recovery = the latest snapshot + the records after
// it; whatever prefix of records survived a crash and wherever the last snapshot was taken, recovery must give
// exactly the state the world had after the last surviving record.

const limits = { numRuns: 120 } as const;

const players = scriptPlayers;
type Client = keyof typeof players;
const logic = scriptedLogic;

const BUFFER = 4;
const STEPS = 20;

interface Submission {
  /** Submitted when the world is at this frame. */
  readonly at: number;
  readonly client: Client;
  /** Frame the op is stamped for, relative to `at` (negative: late, re-simulated; positive: scheduled ahead). */
  readonly offset: number;
  readonly kind: 'right' | 'stop' | 'move' | 'crate' | 'delete' | 'leave' | 'join';
  readonly x: number;
}

const crateId = (n: number): string => `0190d7a0-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;

const submissionArb: fc.Arbitrary<Submission> = fc.record({
  at: fc.integer({ min: 1, max: STEPS }),
  client: fc.constantFrom<Client>('c1', 'c2'),
  offset: fc.integer({ min: -(BUFFER - 1), max: 4 }),
  kind: fc.constantFrom('right', 'stop', 'move', 'crate', 'delete', 'leave', 'join'),
  x: fc.double({ min: 0, max: 100, noNaN: true }),
});

function opOf(s: Submission, n: number, frame: number): Op {
  const entityId = players[s.client];
  switch (s.kind) {
    case 'right':
    case 'stop':
      return { op: 'input', entityId, input: { right: s.kind === 'right' }, frame };
    case 'move':
      return { op: 'update', entityId, data: { x: s.x }, frame };
    case 'crate':
      return { op: 'create', entityId: crateId(n), typeName: 'crate', data: { weight: 2 }, frame };
    default:
      return { op: 'delete', entityId: crateId(Math.max(1, n - 1)), frame };
  }
}

/** Everything a recovered world must reproduce (the frame history is not part of it). */
function state(snapshot: WorldSnapshot): unknown {
  const { frames: _frames, ...rest } = snapshot;
  return {
    ...rest,
    entities: [...rest.entities].sort((a, b) => a.id.localeCompare(b.id)),
    tombstones: [...rest.tombstones].sort((a, b) => a.id.localeCompare(b.id)),
    connections: [...rest.connections]
      .map((c) => ({ ...c, entities: [...c.entities].sort() }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    pending: rest.pending ?? [],
  };
}

/** Runs the submissions; returns the record of every step, the state after it, and snapshots between steps. */
function run(subs: readonly Submission[], snapshotAt: ReadonlySet<number>, takeEvery = 1) {
  const world = new World(logic, { bufferFrame: BUFFER, seed: 7 });
  world.trackLog();
  world.connect('c1');
  world.connect('c2');
  world.submit('c1', { op: 'create', entityId: players.c1, typeName: 'player', data: {} });
  world.submit('c2', { op: 'create', entityId: players.c2, typeName: 'player', data: {} });
  const records: WorldLogRecord[] = [];
  const states = new Map<number, WorldSnapshot>();
  const snapshots: WorldSnapshot[] = [emptyWorldSnapshot(world.tickRate)];
  let n = 0;
  for (let step = 1; step <= STEPS; step++) {
    for (const s of subs) {
      if (s.at !== world.frame) continue;
      n++;
      if (s.kind === 'leave') world.disconnect(s.client);
      else if (s.kind === 'join') world.connect(s.client);
      else world.submit(s.client, opOf(s, n, Math.max(1, world.frame + 1 + s.offset)));
    }
    if (snapshotAt.has(step)) snapshots.push(world.snapshot());
    world.step();
    // A host may log every step or every few (one record then covers several steps).
    if (step % takeEvery !== 0 && step !== STEPS) continue;
    const record = world.takeLogRecord();
    if (record) records.push(JSON.parse(JSON.stringify(record)) as WorldLogRecord);
    states.set(world.frame, JSON.parse(JSON.stringify(world.snapshot())) as WorldSnapshot);
  }
  return { records, states, snapshots, world };
}

describe('World change log (property)', () => {
  it('[LOG-W1] any snapshot plus any prefix of the records after it recovers exactly the state after that prefix', () => {
    fc.assert(
      fc.property(
        fc.array(submissionArb, { maxLength: 40 }),
        fc.uniqueArray(fc.integer({ min: 1, max: STEPS }), { maxLength: 4 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 3 }),
        (subs, snapshotSteps, pickSnapshot, pickCut, takeEvery) => {
          const { records, states, snapshots } = run(subs, new Set(snapshotSteps), takeEvery);
          const base = JSON.parse(
            JSON.stringify(snapshots[pickSnapshot % snapshots.length]!),
          ) as WorldSnapshot;
          const after = records.filter((r) => r.frame > base.frame);
          const cut = after.length === 0 ? 0 : pickCut % (after.length + 1);
          const survived = after.slice(0, cut);
          const recovered = recoverWorldSnapshot(base, survived);
          // The last surviving record's frame, or the snapshot's when none survived.
          const frame = survived.length === 0 ? base.frame : survived[survived.length - 1]!.frame;
          if (survived.length === 0) {
            expect(state(recovered)).toEqual(state(base));
            return;
          }
          expect(state(recovered)).toEqual(state(states.get(frame)!));
        },
      ),
      capped(limits, 20_000),
    );
  });

  it('[LOG-W2] a world restored from a recovered snapshot continues like the original (pending ops included)', () => {
    fc.assert(
      fc.property(fc.array(submissionArb, { maxLength: 30 }), (subs) => {
        const ahead = subs.map((s) => ({ ...s, offset: Math.abs(s.offset) + 1 }));
        const { records, snapshots, world } = run(ahead, new Set([5]));
        const recovered = recoverWorldSnapshot(snapshots[1]!, records);
        const restored = new World(logic, { bufferFrame: BUFFER, seed: 7 }, recovered);
        // Both stand at the last step's frame; commands scheduled ahead apply identically from here.
        while (restored.frame < world.frame) restored.step();
        for (let i = 0; i < 6; i++) {
          restored.step();
          world.step();
        }
        expect(state(restored.snapshot())).toEqual(state(world.snapshot()));
      }),
      capped(limits, 20_000),
    );
  });
});

describe('FieldStore change log (property)', () => {
  type Action =
    | { kind: 'write'; key: string; field: string; value: number }
    | { kind: 'delete'; key: string }
    | { kind: 'session'; rollback: boolean; writes: Array<{ key: string; field: string; value: number }> }
    | { kind: 'prune' }
    | { kind: 'take' }
    | { kind: 'rerun'; writes: Array<{ key: string; field: string; value: number }> };
  const key = fc.constantFrom('a', 'b', 'c', 'd');
  const field = fc.constantFrom('x', 'y');
  const write = fc.record({ key, field, value: fc.integer({ min: 0, max: 5 }) });
  const action: fc.Arbitrary<Action> = fc.oneof(
    { weight: 2, arbitrary: write.map((w) => ({ kind: 'write' as const, ...w })) },
    { weight: 1, arbitrary: key.map((k) => ({ kind: 'delete' as const, key: k })) },
    {
      weight: 3,
      arbitrary: fc
        .record({ rollback: fc.boolean(), writes: fc.array(write, { maxLength: 4 }) })
        .map((s) => ({ kind: 'session' as const, ...s })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'prune' as const }) },
    { weight: 3, arbitrary: fc.constant({ kind: 'take' as const }) },
    {
      weight: 3,
      arbitrary: fc
        .array(write, { minLength: 1, maxLength: 4 })
        .map((writes) => ({ kind: 'rerun' as const, writes })),
    },
  );

  it('[LOG-S1] the changes of each take, applied to the state at the previous take, give the state now', () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 60 }), (actions) => {
        const store = new FieldStore();
        store.trackLog();
        let version = 0;
        let atTake: StoreSnapshot = store.snapshot();
        // The last recorded session, kept: a re-run rolls it back and writes again at its version (a late input).
        let last: { log: UndoLog; version: number } | undefined;
        const check = () => {
          // Taken at the store's version: `Fields` changes mean "written at it".
          const at = store.version;
          const changes = JSON.parse(JSON.stringify(store.takeLogChanges(at))) as StoreLogChange[];
          const now = store.snapshot();
          const recovered = applyStoreLogChanges(atTake, [{ version: at, changes }], now.horizon);
          expect(normalize(recovered)).toEqual(normalize(now));
          atTake = now;
        };
        for (const a of actions) {
          // A world rewinds only its latest frames: other writes in between end the chance of a re-run.
          if (a.kind !== 'take' && a.kind !== 'rerun') last = undefined;
          if (a.kind === 'take') check();
          else if (a.kind === 'write') store.write(a.key, { [a.field]: a.value }, ++version);
          else if (a.kind === 'delete') store.delete(a.key, ++version);
          else if (a.kind === 'prune') store.pruneTombstones(version);
          else if (a.kind === 'rerun') {
            if (last === undefined) continue;
            store.rollback(last.log);
            store.record(last.log);
            for (const w of a.writes) store.writeField(w.key, w.field, w.value, last.version);
            store.stopRecording();
          } else {
            const log = new UndoLog();
            store.record(log);
            const at = ++version;
            for (const w of a.writes) store.writeField(w.key, w.field, w.value, at);
            store.stopRecording();
            last = { log, version: at };
            if (a.rollback) {
              store.rollback(log);
              last = undefined;
            }
          }
        }
        check();
      }),
      capped(limits, 20_000),
    );
  });
});

describe('SequenceReceiver change log (property)', () => {
  it('[LOG-Q1] a receiver restored from its export plus later changes answers like the original', () => {
    const event = fc.record({
      emitter: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      stamp: fc.integer({ min: 1, max: 3 }),
      seq: fc.integer({ min: 1, max: 12 }),
      take: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), fc.nat(), (events, pick) => {
        const live = new SequenceReceiver({ maxEmitters: 3 });
        live.trackChanges();
        const exportAt = pick % (events.length + 1);
        let exported: ReturnType<SequenceReceiver['exportAll']> = [];
        const later: Array<ReturnType<SequenceReceiver['takeChanges']>> = [];
        events.forEach((e, i) => {
          if (i === exportAt) {
            live.takeChanges();
            exported = live.exportAll();
          }
          live.accept(e.emitter, e.stamp, e.seq);
          if (e.take && i >= exportAt) later.push(live.takeChanges());
        });
        if (exportAt === events.length) exported = live.exportAll();
        else later.push(live.takeChanges());
        const restored = new SequenceReceiver({ maxEmitters: 3 });
        restored.restore(exported);
        for (const changes of later) restored.restore(changes);
        const view = (r: SequenceReceiver) =>
          ['a', 'b', 'c', 'd', 'e'].map((e) => [1, 2, 3].map((s) => [r.lastSeq(e, s), r.ack(e, s)]));
        expect(view(restored)).toEqual(view(live));
        expect(restored.emitterCount).toBe(live.emitterCount);
      }),
      capped(limits, 20_000),
    );
  });
});

function normalize(snapshot: StoreSnapshot): unknown {
  const entries = Object.entries(snapshot.entries)
    .map(([k, e]) => [
      k,
      { fields: { ...e.fields }, versions: { ...e.versions }, clearedAt: e.clearedAt ?? 0 },
    ])
    .sort(([a], [b]) => String(a).localeCompare(String(b)));
  return { version: snapshot.version, horizon: snapshot.horizon, entries };
}
