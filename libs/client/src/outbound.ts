import { OutboundLog, type Sequenced } from '@p3/engine';
import { messageLimits, type Op, type OpsMessage } from '@p3/protocol';
import type { PersistedOutbound } from './offline-store.js';
import { RecentOps } from './recent-ops.js';

type Entry = Sequenced<Op>;

/** An op of this client whose effect is not yet in an authoritative frame (what predictions replay). */
export interface LocalOp {
  readonly op: Op;
  /**
   * Frame the op applies at, as far as the client knows: the frame it was stamped with when sent, or (once
   * acknowledged) the first frame that includes it. Undefined while not sent on the current connection.
   */
  readonly frame: number | undefined;
}

export interface OutboundOptions {
  /** First session stamp (when nothing is restored). */
  readonly stamp: number;
  /** Called after every change worth persisting. */
  readonly onChange: () => void;
  /** Called when an op is queued for sending (the session schedules a send). */
  readonly onPush?: () => void;
}

/**
 * Acknowledged ops remembered for a rejection that comes after the ack (refused when applied, within a few frames):
 * enough for seconds of writes; every op kept longer would only grow a long-lived client's heap.
 */
const maxRemembered = 256;

/**
 * The sending side of the client (seed 001 on top of the engine's OutboundLog): numbers ops, batches the unsent
 * ones into `ops` messages (consecutive sequence numbers of one stamp each), keeps everything unacknowledged for
 * resends and reconnects, and keeps acknowledged ops "landing" until the authoritative frame that applies them
 * arrives, so an optimistic value never flickers back in between.
 */
export class Outbound {
  private readonly log: OutboundLog<Op>;
  /** Entries sent on the current connection, with the frame they were stamped for. */
  private readonly sentAt = new Map<Entry, number | undefined>();
  /**
   * The unsent ops are the tail of the pending list (pushes append, a take sends them all, acks drop a prefix):
   * a take then looks at that tail only, not at every op waiting for its ack. False once an op before it may be
   * unsent again (a resend, a restore, a rewrite): the next take scans them all. A reconnect unsends every op,
   * which leaves them all a tail.
   */
  private unsentIsTail = false;
  private landing: Array<{ readonly entry: Entry; readonly due: number }> = [];
  /** Recently pushed ops by `stamp:seq`: a rejection may arrive after the ack (refused when applied). */
  private readonly recent = new RecentOps<Op>(maxRemembered);
  /** Ops pushed before the persisted queue was restored: numbered after it. */
  private early: Op[] | undefined = [];
  /** Frame of the latest input change sent per entity on this connection (see `inputFrame`). */
  private readonly lastInput = new Map<string, number>();
  private readonly onChange: () => void;
  private readonly onPush: (() => void) | undefined;

  constructor(options: OutboundOptions) {
    this.log = new OutboundLog<Op>({ stamp: options.stamp });
    this.onChange = options.onChange;
    this.onPush = options.onPush;
  }

  /** The session stamp announced in `join`. */
  get stamp(): number {
    return this.log.stamp;
  }

  get restored(): boolean {
    return this.early === undefined;
  }

  /** Ops not yet acknowledged (including those not sent). */
  get size(): number {
    return this.log.size + (this.early?.length ?? 0);
  }

  /** Restores a persisted queue (or none), then numbers the ops pushed meanwhile after it. Call once. */
  restore(state: PersistedOutbound | null): void {
    if (state !== null) {
      this.log.restore(
        state.pending.map((p) => ({ stamp: p.stamp, seq: p.seq, payload: p.op })),
        state.next,
      );
      for (const p of state.pending) this.remember(p.stamp, p.seq, p.op);
    }
    this.unsentIsTail = false;
    const early = this.early ?? [];
    this.early = undefined;
    for (const op of early) this.push(op);
    this.onChange();
  }

  push(op: Op): void {
    if (this.early !== undefined) {
      this.early.push(op);
      return;
    }
    const entry = this.log.push(op);
    this.remember(entry.stamp, entry.seq, op);
    this.onChange();
    this.onPush?.();
  }

  /** Whether a take would send something (true when it cannot tell without scanning: see `unsentIsTail`). */
  hasUnsent(): boolean {
    if (!this.unsentIsTail) return true;
    const pending = this.log.unacknowledged();
    return pending.length > 0 && !this.sentAt.has(pending[pending.length - 1]!);
  }

  /**
   * The unsent ops as messages, each op stamped for `frame` (undefined: the server's next tick) and `through`
   * the same frame; marks them sent. Ops resent after a reconnect or a `missing` report are re-stamped here.
   * Unless `stamped`, the ops travel without a frame (the room applies them at its next tick) while the client
   * still reckons them at `frame` (its predictions and the frame their optimistic effect lasts until).
   */
  takeBatches(frame: number | undefined, stamped = true): OpsMessage[] {
    const messages: OpsMessage[] = [];
    if (frame !== undefined && this.lastInput.size > maxRememberedInputs) {
      // Entries before the send frame no longer push an input later (see `inputFrame`).
      for (const [entityId, at] of this.lastInput) if (at < frame) this.lastInput.delete(entityId);
    }
    // Runs of consecutive sequence numbers of one stamp, each one message (at most maxOpsPerMessage ops).
    let first: Entry | undefined;
    let last: Entry | undefined;
    let ops: Op[] = [];
    const pending = this.log.unacknowledged();
    let start = 0;
    if (this.unsentIsTail) {
      start = pending.length;
      while (start > 0 && !this.sentAt.has(pending[start - 1]!)) start--;
    }
    for (let i = start; i < pending.length; i++) {
      const entry = pending[i]!;
      if (this.sentAt.has(entry)) continue;
      if (
        last !== undefined &&
        (last.stamp !== entry.stamp ||
          last.seq + 1 !== entry.seq ||
          ops.length >= messageLimits.maxOpsPerMessage)
      ) {
        messages.push(batch(first!, frame, ops));
        first = undefined;
        ops = [];
      }
      first ??= entry;
      last = entry;
      const at = frame === undefined ? undefined : this.inputFrame(entry.payload, frame);
      this.sentAt.set(entry, at);
      ops.push(at === undefined || !stamped ? withoutFrame(entry.payload) : { ...entry.payload, frame: at });
    }
    if (first !== undefined) messages.push(batch(first, frame, ops));
    this.unsentIsTail = true;
    return messages;
  }

  /** A new connection: nothing is sent on it yet. */
  resetConnection(): void {
    this.sentAt.clear();
    this.lastInput.clear();
  }

  /**
   * The frame an op sent for `frame` is stamped for. Other ops keep the send frame. Input state is sticky: a key
   * pressed and released within one tick would be applied and overwritten in it, so the press would never count.
   * An input change therefore goes at least one frame after the entity's previous input change sent on this
   * connection, in the same batch (the k-th change of a batch k frames later) or in an earlier one (ops go out as
   * soon as they are made, so a press and its release often travel apart), and at most `maxInputSpread` frames
   * after the send frame, so a long resent queue still lands soon.
   */
  private inputFrame(op: Op, frame: number): number {
    if (op.op !== 'input') return frame;
    const previous = this.lastInput.get(op.entityId);
    const at =
      previous === undefined || previous < frame ? frame : Math.min(previous + 1, frame + maxInputSpread);
    this.lastInput.set(op.entityId, at);
    return at;
  }

  /**
   * Applies an ack: acknowledged ops start landing (until frame `max(stamped frame, nextFrame)`, where `nextFrame`
   * is the first frame the server can still apply them in), and ops listed missing are marked for resending.
   */
  ack(
    stamp: number,
    seq: number,
    missing: ReadonlyArray<readonly [number, number]> | undefined,
    nextFrame: number,
  ): void {
    const acked = this.log.unacknowledged().filter((e) => e.stamp === stamp && e.seq <= seq);
    for (const entry of acked) {
      const stamped = this.sentAt.get(entry);
      this.landing.push({ entry, due: Math.max(stamped ?? nextFrame, nextFrame) });
      this.sentAt.delete(entry);
    }
    const resend = this.log.ack(stamp, seq, missing ?? []);
    for (const entry of resend) this.sentAt.delete(entry);
    if (resend.length > 0) this.unsentIsTail = false;
    if (acked.length > 0 || resend.length > 0) this.onChange();
  }

  /** Authoritative frame `frame` arrived: ops landing at or before it are now part of the authoritative world. */
  settle(frame: number): boolean {
    const landing = this.landing;
    let kept = 0;
    for (let i = 0; i < landing.length; i++) {
      const l = landing[i]!;
      if (l.due > frame) landing[kept++] = l;
    }
    if (kept === landing.length) return false;
    landing.length = kept;
    return true;
  }

  /** A rejected op stops counting (its optimistic effect goes). Returns the op when the client knew it. */
  reject(stamp: number, seq: number): Op | undefined {
    const op = this.recent.find(stamp, seq);
    const landingBefore = this.landing.length;
    this.landing = this.landing.filter((l) => l.entry.stamp !== stamp || l.entry.seq !== seq);
    const pending = this.log.unacknowledged().find((e) => e.stamp === stamp && e.seq === seq);
    if (pending) {
      this.log.drop(stamp, seq);
      this.sentAt.delete(pending);
    }
    if (pending || this.landing.length !== landingBefore) this.onChange();
    return op ?? pending?.payload;
  }

  /** Marks an op sent on this connection for sending again (the server did not record it). */
  resend(stamp: number, seq: number): void {
    const entry = this.log.unacknowledged().find((e) => e.stamp === stamp && e.seq === seq);
    if (entry) this.sentAt.delete(entry);
    this.unsentIsTail = false;
  }

  /** Replaces the payload of a queued op, keeping its sequence number (see write-guard `acceptedFields`). */
  replace(stamp: number, seq: number, op: Op): void {
    this.rewrite((entries) =>
      entries.map((e) => (e.stamp === stamp && e.seq === seq ? { stamp, seq, payload: op } : e)),
    );
    this.remember(stamp, seq, op);
    this.onChange();
  }

  /** Ops whose effect is not yet authoritative, oldest first: landing, then unacknowledged, then not yet numbered. */
  localOps(): LocalOp[] {
    const out: LocalOp[] = this.landing.map((l) => ({ op: l.entry.payload, frame: l.due }));
    for (const entry of this.log.unacknowledged())
      out.push({ op: entry.payload, frame: this.sentAt.get(entry) });
    for (const op of this.early ?? []) out.push({ op, frame: undefined });
    return out;
  }

  /** Type name of an entity this client's pending ops create (the newest such op), if any. */
  createdType(entityId: string): string | undefined {
    const early = this.early ?? [];
    for (let i = early.length - 1; i >= 0; i--) {
      const op = early[i]!;
      if (op.op === 'create' && op.entityId === entityId) return op.typeName;
    }
    const pending = this.log.unacknowledged();
    for (let i = pending.length - 1; i >= 0; i--) {
      const op = pending[i]!.payload;
      if (op.op === 'create' && op.entityId === entityId) return op.typeName;
    }
    for (let i = this.landing.length - 1; i >= 0; i--) {
      const op = this.landing[i]!.entry.payload;
      if (op.op === 'create' && op.entityId === entityId) return op.typeName;
    }
    return undefined;
  }

  persisted(clientId: string): PersistedOutbound {
    return {
      format: 'p3.outbound/1',
      clientId,
      next: this.log.next,
      pending: this.log.unacknowledged().map((e) => ({ stamp: e.stamp, seq: e.seq, op: e.payload })),
    };
  }

  /** Rewrites the pending list in place (payload replacement), keeping the numbering and the sent marks. */
  private rewrite(change: (entries: readonly Entry[]) => Entry[]): void {
    const before = this.log.unacknowledged().slice();
    const next = this.log.next;
    this.unsentIsTail = false;
    const after = change(before);
    this.log.restore(after, next);
    for (let i = 0; i < before.length; i++) {
      const old = before[i]!;
      const replaced = after.find((e) => e.stamp === old.stamp && e.seq === old.seq);
      if (replaced !== undefined && replaced !== old && this.sentAt.has(old))
        this.sentAt.set(replaced, this.sentAt.get(old));
      if (replaced !== old) this.sentAt.delete(old);
    }
  }

  private remember(stamp: number, seq: number, op: Op): void {
    this.recent.remember(stamp, seq, op);
  }
}

/** Most frames after the send frame an input change is stamped for (see `Outbound.inputFrame`). */
const maxInputSpread = 4;
/** Entities whose latest input frame is kept before stale ones are pruned. */
const maxRememberedInputs = 64;

function batch(first: Entry, frame: number | undefined, ops: Op[]): OpsMessage {
  return frame === undefined
    ? { type: 'ops', stamp: first.stamp, seq: first.seq, ops }
    : { type: 'ops', stamp: first.stamp, seq: first.seq, through: frame, ops };
}

function withoutFrame(op: Op): Op {
  if (op.frame === undefined) return op;
  const { frame: _frame, ...rest } = op;
  return rest as Op;
}
