import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capped } from '@p3/test-support/property';
import type { Op } from '@p3/protocol';
import { Outbound } from '../src/outbound.js';
import { isPersistedOutbound } from '../src/offline-store.js';

const E = '0190d7a0-0000-7000-8000-0000000000ee';
const input = (up: boolean): Op => ({ op: 'input', entityId: E, input: { up } });

function outbound(stamp = 7) {
  let changes = 0;
  const out = new Outbound({ stamp, onChange: () => changes++ });
  out.restore(null);
  return { out, changes: () => changes };
}

describe('Outbound', () => {
  it('[CLIENT-10] batches unsent ops into messages of consecutive sequence numbers, stamped for the send frame', () => {
    const { out } = outbound();
    for (let i = 0; i < 300; i++) out.push(input(i % 2 === 0));
    const batches = out.takeBatches(42);
    expect(batches.map((b) => [b.stamp, b.seq, b.ops.length, b.through])).toEqual([
      [7, 1, 256, 42],
      [7, 257, 44, 42],
    ]);
    expect(batches[0]!.ops[0]).toEqual({ ...input(true), frame: 42 });
    expect(out.takeBatches(43)).toEqual([]);
    out.resetConnection();
    // A new connection resends everything unacknowledged, re-stamped (or unstamped before clock sync).
    const resent = out.takeBatches(undefined);
    expect(resent[0]).not.toHaveProperty('through');
    expect(resent[0]!.ops[0]).not.toHaveProperty('frame');
  });

  it('[CLIENT-10] stamps input changes of one entity sent together for consecutive frames, so a quick tap counts', () => {
    const { out } = outbound();
    const F = '0190d7a0-0000-7000-8000-0000000000ff';
    const other: Op = { op: 'input', entityId: F, input: { up: true } };
    const update: Op = { op: 'update', entityId: E, data: { x: 1 } };
    // A press and its release within one send interval: applied in one tick, the press would never count.
    out.push(input(true));
    out.push(update);
    out.push(other);
    out.push(input(false));
    const [batch] = out.takeBatches(20);
    expect(batch!.through).toBe(20);
    expect(batch!.ops.map((op) => op.frame)).toEqual([20, 20, 20, 21]);
    expect(out.localOps().map((l) => l.frame)).toEqual([20, 20, 20, 21]);
    // A long queue (a reconnect resending it) spreads over at most 5 frames and still lands soon.
    for (let i = 0; i < 10; i++) out.push(input(i % 2 === 0));
    expect(out.takeBatches(30)[0]!.ops.map((op) => op.frame)).toEqual([
      30, 31, 32, 33, 34, 34, 34, 34, 34, 34,
    ]);
  });

  it('[CLIENT-10] keeps acknowledged ops landing until their frame, and resends what an ack lists missing', () => {
    const { out } = outbound();
    out.push(input(true));
    out.push(input(false));
    out.push(input(true));
    out.takeBatches(10);
    out.ack(7, 1, [[2, 2]], 8);
    expect(out.size).toBe(2);
    // Input changes of one entity in one batch go to consecutive frames (10, 11, 12); the second was lost.
    expect(out.localOps().map((l) => l.frame)).toEqual([10, undefined, 12]);
    expect(out.takeBatches(12).map((b) => [b.seq, b.ops.length])).toEqual([[2, 1]]);
    expect(out.settle(9)).toBe(false);
    expect(out.settle(10)).toBe(true);
    expect(out.localOps()).toHaveLength(2);
  });

  it('[CLIENT-10] drops a rejected op (pending or landing) and reports it, keeping later numbering', () => {
    const { out } = outbound();
    out.push(input(true));
    out.push(input(false));
    out.takeBatches(5);
    expect(out.reject(7, 1)).toEqual(input(true));
    expect(out.localOps().map((l) => l.op)).toEqual([input(false)]);
    out.push(input(true));
    expect(out.persisted('me').pending.map((p) => p.seq)).toEqual([2, 3]);
    out.ack(7, 3, undefined, 6);
    expect(out.reject(7, 3)).toEqual(input(true));
    expect(out.localOps()).toEqual([{ op: input(false), frame: 6 }]);
    expect(out.size).toBe(0);
  });

  it('[CLIENT-12] persists and restores the queue; ops pushed before the restore are numbered after it', () => {
    const { out } = outbound(3);
    out.push(input(true));
    out.push(input(false));
    const saved = out.persisted('client-1');
    expect(isPersistedOutbound(saved)).toBe(true);
    expect(isPersistedOutbound({ ...saved, pending: [{ stamp: 1, seq: 1, op: { op: 'nope' } }] })).toBe(
      false,
    );

    const reloaded = new Outbound({ stamp: 99, onChange: () => undefined });
    reloaded.push(input(true));
    expect(reloaded.size).toBe(1);
    reloaded.restore(saved);
    expect(reloaded.stamp).toBe(3);
    expect(reloaded.persisted('client-1').pending.map((p) => [p.stamp, p.seq])).toEqual([
      [3, 1],
      [3, 2],
      [3, 3],
    ]);
  });

  it('[CLIENT-10] a take sends exactly the unsent ops, in order, whatever acks, resends, rejects and reconnects came between', () => {
    // A model of what is pending and what went out on this connection: takes only look at the unsent tail of the
    // pending list, which must still find an op marked for resending in the middle of it.
    // Sequence numbers stay small, so acks, resends and rejects hit ops that are pending and sent.
    const seq = fc.integer({ min: 1, max: 12 });
    const command = fc.oneof(
      fc.constant({ kind: 'push' as const }),
      fc.constant({ kind: 'take' as const }),
      fc.constant({ kind: 'reset' as const }),
      fc.record({ kind: fc.constant('ack' as const), upTo: fc.nat(12), missing: fc.option(seq) }),
      fc.record({ kind: fc.constant('resend' as const), seq }),
      fc.record({ kind: fc.constant('reject' as const), seq }),
    );
    type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;
    // An op in the middle marked for resending, by `resend` and by an ack's `missing`: always tried.
    const examples: Array<[Command[]]> = [
      [[{ kind: 'push' }, { kind: 'push' }, { kind: 'take' }, { kind: 'resend', seq: 1 }, { kind: 'take' }]],
      [
        [
          { kind: 'push' },
          { kind: 'push' },
          { kind: 'take' },
          { kind: 'ack', upTo: 0, missing: 1 },
          { kind: 'take' },
        ],
      ],
    ];
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        const { out } = outbound();
        const pending: number[] = [];
        const sent = new Set<number>();
        let next = 1;
        for (const c of commands) {
          if (c.kind === 'push') {
            out.push(input(next % 2 === 0));
            pending.push(next++);
          } else if (c.kind === 'take') {
            const seqs = out.takeBatches(10).flatMap((b) => b.ops.map((_, i) => b.seq + i));
            expect(seqs).toEqual(pending.filter((seq) => !sent.has(seq)));
            for (const seq of seqs) sent.add(seq);
          } else if (c.kind === 'reset') {
            out.resetConnection();
            sent.clear();
          } else if (c.kind === 'ack') {
            const missing = c.missing === null ? undefined : ([[c.missing, c.missing]] as const);
            out.ack(7, c.upTo, missing, 10);
            for (let i = pending.length - 1; i >= 0; i--) {
              const seq = pending[i]!;
              if (seq <= c.upTo) {
                pending.splice(i, 1);
                sent.delete(seq);
              }
            }
            if (c.missing !== null && pending.includes(c.missing)) sent.delete(c.missing);
          } else if (c.kind === 'resend') {
            out.resend(7, c.seq);
            sent.delete(c.seq);
          } else {
            out.reject(7, c.seq);
            const at = pending.indexOf(c.seq);
            if (at >= 0) pending.splice(at, 1);
            sent.delete(c.seq);
          }
          // Ops not sent on this connection have no frame yet (landing ops come first, with theirs).
          const unsent = out.localOps().filter((l) => l.frame === undefined).length;
          expect(unsent).toBe(pending.filter((seq) => !sent.has(seq)).length);
        }
      }),
      capped({ numRuns: 1000, examples }),
    );
  });
});
