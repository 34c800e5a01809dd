import { randomUUID } from 'node:crypto';
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { JsonValue } from '@p3/protocol';
import type { Logger } from 'pino';
import type { LogEntry, RoomLog } from '../ports/room-log.js';
import type { RoomKey } from '../ports/snapshot-store.js';
import { checkLogVersion, roomMapKey } from './room-log-entries.js';
import { encodeIdToken } from '../id-token.js';
import { ensureStream } from './jetstream-stream.js';

export interface JetStreamRoomLogOptions {
  /** A connection the caller owns (and closes). Without it the log connects to `servers` and closes that itself. */
  readonly connection?: NatsConnection;
  /** Default `127.0.0.1:4222`; only used without `connection`. */
  readonly servers?: string | readonly string[];
  /** Default `P3_ROOM_LOG`. Created (file storage) when missing; an existing stream must capture our subjects. */
  readonly stream?: string;
  /** Default `p3`: records go to `<prefix>.log.<tenant>.<room>`. Dot-separated tokens of [A-Za-z0-9_-]. */
  readonly subjectPrefix?: string;
  /** Replicas of a stream this log creates. Default 1 (one server); production clusters use 3. */
  readonly replicas?: number;
  /** How long to wait for a PubAck, and for a read's batch. Default 5,000 ms. */
  readonly timeoutMs?: number;
  /** Warned when the space of a truncate could not be reclaimed (the truncate itself is durable). */
  readonly logger?: Pick<Logger, 'warn'>;
}

/** Header of a record: its version. The payload is the JSON of its data. */
const VERSION_HEADER = 'P3-Version';
/** Header of a truncation marker (empty payload): the records of the room up to this version are gone. */
const TRUNCATE_HEADER = 'P3-Truncate';
/** A publish that timed out is sent once more with the same msgID: the stream's dedupe window absorbs a repeat. */
const PUBLISH_ATTEMPTS = 2;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Per room: the queue its appends and truncates run through, and the stream sequence of its last message. */
interface RoomChain {
  tail: Promise<void>;
  /** Unknown (undefined) at first and after a failed publish: fetched from the stream before the next one. */
  lastSeq: number | undefined;
  queued: number;
}

/** A room's records after replaying its subject: per version, the latest record and its stream sequence. */
interface Replay {
  readonly live: Map<number, { readonly seq: number; readonly data: Uint8Array }>;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/** Rooms whose chain is idle are forgotten past this many, so a long-lived simulator's map does not grow forever. */
const MAX_IDLE_ROOMS = 10_000;

/**
 * The room log on NATS JetStream, for clusters: one stream (file storage, subjects `<prefix>.log.>`), one subject
 * per room (`<prefix>.log.<tenant>.<room>`, ids encoded by `encodeIdToken`), one message per record with its
 * version in a header. Any simulator can read a room's log after a failover; rooms never see each other's records
 * because each reads only its own subject.
 *
 * What a resolved `append` means: the PubAck came back, so the message is in the stream's file store on the
 * server. That survives a kill -9 of this process and of the NATS server process (the write reached the OS). With
 * one replica and the server's default sync interval (2 min) a machine crash or power loss can lose the records
 * acknowledged since the last fsync, so production sets `replicas: 3` (a PubAck then means a quorum has the
 * record) or `sync_always` on the servers. A PubAck is atomic: a record is stored whole or not at all, never torn.
 *
 * - Appends and truncates of one room run one at a time, in call order (a promise chain per room), so they become
 *   durable and resolve in call order. Rooms run in parallel; NATS pipelines their publishes on one connection.
 * - Every publish carries a fresh msgID (a publish retried after a timeout is deduplicated by the stream, never
 *   stored twice) and the expected last sequence of the room's subject: a second writer interleaving on the same
 *   room makes the append reject instead of silently mixing logs (the lease epoch remains the real fence).
 * - A re-appended version replaces its record: `read` replays the subject and keeps the latest record per version.
 * - `truncate` appends a small marker message (`P3-Truncate: <through>`) that hides, on replay, every earlier
 *   record with a version up to `through`: that marker is the durable truth. It then reclaims space with a purge of
 *   the room's subject up to the first record still live (or everything, marker included, when none is), bounded
 *   by the sequence it replayed to, so a record appended meanwhile is never purged. A failed purge is only warned:
 *   the next truncate purges again.
 * - The stream discards new messages when full (should limits ever be set): a full log refuses appends, never
 *   drops acknowledged records.
 *
 * A record must fit the server's max_payload (1 MB by default); a bigger one rejects its append.
 *
 * @example
 * const log = await JetStreamRoomLog.open({ servers: 'nats://nats:4222', replicas: 3 });
 * await log.append({ tenant: 'default', room: 'lobby' }, 42, { moved: [3, 4] }); // PubAck: ack the client
 */
export class JetStreamRoomLog implements RoomLog {
  private readonly rooms = new Map<string, RoomChain>();
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly logger: Pick<Logger, 'warn'> | undefined,
  ) {}

  /** Connects (unless given a connection) and creates the stream if missing; rejects when either fails. */
  static async open(options: JetStreamRoomLogOptions = {}): Promise<JetStreamRoomLog> {
    const prefix = options.subjectPrefix ?? 'p3';
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix))
      throw new RangeError(
        `room log subject prefix must be dot-separated [A-Za-z0-9_-] tokens, got "${prefix}"`,
      );
    const stream = options.stream ?? 'P3_ROOM_LOG';
    const servers = options.servers ?? '127.0.0.1:4222';
    const nc =
      options.connection ??
      (await connect({ servers: typeof servers === 'string' ? servers : [...servers] }));
    const owns = options.connection === undefined;
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStream(jsm, stream, `${prefix}.log.>`, {
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.New,
        num_replicas: options.replicas ?? 1,
      });
      const timeoutMs = options.timeoutMs ?? 5000;
      return new JetStreamRoomLog(nc, owns, jsm, jetstream(nc), stream, prefix, timeoutMs, options.logger);
    } catch (error) {
      if (owns) await nc.close();
      throw error;
    }
  }

  /** The subject of a room's records. */
  subjectOf(key: RoomKey): string {
    return `${this.prefix}.log.${encodeIdToken(key.tenant)}.${encodeIdToken(key.room)}`;
  }

  append(key: RoomKey, version: number, data: JsonValue): Promise<void> {
    try {
      checkLogVersion(version, 'version');
    } catch (error) {
      return Promise.reject(error as Error);
    }
    // Serialized now: a caller mutating `data` after the call must not change the record.
    const payload = encoder.encode(JSON.stringify(data));
    return this.enqueue(key, async (chain, subject) => {
      await this.publish(chain, subject, payload, header(VERSION_HEADER, version));
    });
  }

  truncate(key: RoomKey, through: number): Promise<void> {
    try {
      checkLogVersion(through, 'through');
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.enqueue(key, async (chain, subject) => {
      const marker = await this.publish(chain, subject, EMPTY, header(TRUNCATE_HEADER, through));
      await this.reclaim(chain, subject, marker);
    });
  }

  async read(key: RoomKey, after: number): Promise<LogEntry[]> {
    checkLogVersion(after, 'after');
    const { live } = await this.replay(this.subjectOf(key));
    return [...live.entries()]
      .filter(([version]) => version > after)
      .sort(([a], [b]) => a - b)
      .map(([version, record]) => ({ version, data: JSON.parse(decoder.decode(record.data)) as JsonValue }));
  }

  /** Waits for every queued append and truncate to settle, then drains the connection if this log opened it. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.rooms.values()].map((chain) => chain.tail));
    if (this.ownsConnection && !this.nc.isClosed()) await this.nc.drain();
  }

  private enqueue(key: RoomKey, run: (chain: RoomChain, subject: string) => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('room log is closed'));
    const mapKey = roomMapKey(key);
    const chain = this.rooms.get(mapKey) ?? { tail: Promise.resolve(), lastSeq: undefined, queued: 0 };
    this.rooms.set(mapKey, chain);
    chain.queued += 1;
    const subject = this.subjectOf(key);
    const result = chain.tail.then(() => run(chain, subject));
    chain.tail = result
      .catch(() => undefined)
      .finally(() => {
        chain.queued -= 1;
        if (chain.queued === 0 && this.rooms.size > MAX_IDLE_ROOMS) this.rooms.delete(mapKey);
      });
    return result;
  }

  /** Publishes one message of a room (its chain is ours until this settles); resolves with its stream sequence. */
  private async publish(
    chain: RoomChain,
    subject: string,
    payload: Uint8Array,
    hdrs: MsgHdrs,
  ): Promise<number> {
    const expected = chain.lastSeq ?? (await this.lastSequenceOf(subject));
    // Unknown until the PubAck: a failed publish may still have been stored.
    chain.lastSeq = undefined;
    const msgID = randomUUID();
    for (let attempt = 1; ; attempt += 1) {
      try {
        const ack = await this.js.publish(subject, payload, {
          headers: hdrs,
          msgID,
          timeout: this.timeoutMs,
          expect: { streamName: this.stream, lastSubjectSequence: expected },
        });
        chain.lastSeq = ack.seq;
        return ack.seq;
      } catch (error) {
        // The server answered: retrying cannot change its mind (wrong last sequence, stream full, ...).
        if (error instanceof JetStreamApiError || attempt >= PUBLISH_ATTEMPTS)
          throw new Error(`room log append to ${subject} failed: ${(error as Error).message}`, {
            cause: error,
          });
      }
    }
  }

  private async lastSequenceOf(subject: string): Promise<number> {
    const last = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
    return last?.seq ?? 0;
  }

  /** Purges what a truncate hid. Never throws: the marker already made the truncate durable. */
  private async reclaim(chain: RoomChain, subject: string, marker: number): Promise<void> {
    try {
      const { live, firstSeq, lastSeq } = await this.replay(subject);
      let firstLive = Number.POSITIVE_INFINITY;
      for (const record of live.values()) firstLive = Math.min(firstLive, record.seq);
      // Nothing live: the marker hides nothing any more, so it goes too. Bounded by what we replayed.
      const purgeBefore = live.size === 0 ? lastSeq + 1 : firstLive;
      if (purgeBefore <= firstSeq) return;
      await this.jsm.streams.purge(this.stream, { filter: subject, seq: purgeBefore });
      if (live.size === 0) chain.lastSeq = lastSeq === marker ? 0 : undefined;
    } catch (error) {
      chain.lastSeq = undefined;
      this.logger?.warn({ err: error, subject }, 'room log: could not purge truncated records');
    }
  }

  /**
   * Reads a room's subject from the start with an ordered consumer (one filter subject: NATS 2.9 has no more) and
   * applies records and truncation markers in stream order.
   */
  private async replay(subject: string): Promise<Replay> {
    const live = new Map<number, { seq: number; data: Uint8Array }>();
    let firstSeq = 0;
    let lastSeq = 0;
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: subject });
    try {
      let pending = (await consumer.info(true)).num_pending;
      while (pending > 0) {
        const batch = await consumer.fetch({
          max_messages: Math.min(pending, 1000),
          expires: this.timeoutMs,
        });
        let received = 0;
        for await (const message of batch) {
          received += 1;
          if (firstSeq === 0) firstSeq = message.seq;
          lastSeq = message.seq;
          applyMessage(live, message);
          pending = message.info.pending;
        }
        // Purged while we read (a truncate racing this read): what is left was delivered.
        if (received === 0) break;
      }
    } finally {
      // Ordered consumers are ephemeral (deleted after 5 idle minutes anyway); deleting now frees the server sooner.
      consumer.delete().catch(() => undefined);
    }
    return { live, firstSeq, lastSeq };
  }
}

function applyMessage(live: Map<number, { seq: number; data: Uint8Array }>, message: JsMsg): void {
  const through = message.headers?.get(TRUNCATE_HEADER);
  if (through) {
    const bound = parseVersion(through, message);
    for (const version of live.keys()) if (version <= bound) live.delete(version);
    return;
  }
  const version = parseVersion(message.headers?.get(VERSION_HEADER) ?? '', message);
  live.set(version, { seq: message.seq, data: message.data });
}

function parseVersion(text: string, message: JsMsg): number {
  const version = Number(text);
  if (text === '' || !Number.isSafeInteger(version))
    throw new Error(`room log message ${message.seq} on ${message.subject} has no valid version: "${text}"`);
  return version;
}

function header(name: string, version: number): MsgHdrs {
  const hdrs = headers();
  hdrs.set(name, String(version));
  return hdrs;
}
