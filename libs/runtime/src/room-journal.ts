import type { JsonValue, ServerMessage } from '@p3/protocol';
import { ackOfExport, type EmitterExport, type SequenceAck } from '@p3/engine';
import type { Clock } from './ports/clock.js';
import type { RoomLog } from './ports/room-log.js';
import type { RoomKey } from './ports/snapshot-store.js';
import type { TickedRoomLogRecord } from './ticked-room-state.js';

/**
 * The durable side of a ticked room: appends one record per step to the room log and holds back every message
 * that acknowledges something (op acks, refusals of consumed sequence numbers) until the record holding it is
 * durable. Frames are not held back: see TickedRoom for what a client may see before it is durable.
 *
 * Records are numbered in append order; appends of one room resolve in that order (the RoomLog guarantee), so
 * "durable through record n" is a single counter, and the outbox is released front to back.
 */
export class RoomJournal {
  private appended = 0;
  private durable = 0;
  private failed = false;
  private readonly outbox: Array<{
    readonly after: number;
    readonly connectionId: string;
    readonly message: ServerMessage;
  }> = [];
  /** Per client, the sequence state of the last durable record that held it: acks are answered from here. */
  private readonly acked = new Map<string, EmitterExport>();

  constructor(
    private readonly key: RoomKey,
    private readonly log: RoomLog,
    private readonly send: (connectionId: string, message: ServerMessage) => void,
    private readonly onFailure: (error: unknown) => void,
    /** Told how long each record took to become durable (metrics). */
    private readonly observer?: { readonly clock: Clock; logged(latencyMs: number): void },
  ) {}

  /** Sequence state recovered from the snapshot and the log: all durable already. */
  restore(sequences: Iterable<readonly [string, EmitterExport]>): void {
    for (const [emitter, state] of sequences) this.acked.set(emitter, state);
  }

  /** Appends a step's record (version: the world's frame). Its sequence states become the acked ones once durable. */
  append(version: number, record: TickedRoomLogRecord): void {
    if (this.failed) return;
    const n = ++this.appended;
    const sequences = record.sequences;
    const observer = this.observer;
    const startedAt = observer?.clock.now() ?? 0;
    this.log.append(this.key, version, record as unknown as JsonValue).then(
      () => {
        if (observer) observer.logged(observer.clock.now() - startedAt);
        this.durableThrough(n, sequences);
      },
      (error: unknown) => this.fail(error),
    );
  }

  /**
   * Sends `message` once everything accepted so far is durable: once the next record is (the room appends one at
   * its next step when a message waits: see `awaitingRecord`).
   */
  sendWhenDurable(connectionId: string, message: ServerMessage): void {
    if (this.failed) return;
    this.outbox.push({ after: this.appended + 1, connectionId, message });
  }

  /** A message waits for a record not appended yet: the room appends one at its next step, changed or not. */
  get awaitingRecord(): boolean {
    const last = this.outbox[this.outbox.length - 1];
    return last !== undefined && last.after > this.appended;
  }

  /** The ack of (client, stamp) as far as it is durable. */
  ack(clientId: string, stamp: number): SequenceAck | undefined {
    const state = this.acked.get(clientId);
    return state === undefined ? undefined : ackOfExport(state, stamp);
  }

  /** Highest contiguous sequence number of (client, stamp) that is durable. */
  lastSeq(clientId: string, stamp: number): number {
    return this.ack(clientId, stamp)?.seq ?? 0;
  }

  private durableThrough(n: number, sequences: TickedRoomLogRecord['sequences']): void {
    if (this.failed) return;
    this.durable = n;
    for (const [emitter, state] of sequences ?? []) {
      if (state === null) this.acked.delete(emitter);
      else this.acked.set(emitter, state);
    }
    let released = 0;
    while (released < this.outbox.length && this.outbox[released]!.after <= n) {
      const { connectionId, message } = this.outbox[released]!;
      released++;
      this.send(connectionId, message);
    }
    if (released > 0) this.outbox.splice(0, released);
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.outbox.length = 0;
    this.onFailure(error);
  }
}
