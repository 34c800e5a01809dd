import { randomUUID } from 'node:crypto';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
} from '@nats-io/jetstream';
import {
  connect,
  headers,
  type MsgHdrs,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import {
  isNewer,
  type RoomKey,
  type SaveOutcome,
  type SnapshotStore,
  type StoredSnapshot,
} from '../ports/snapshot-store.js';
import { roomMapKey } from './room-log-entries.js';
import {
  SNAPSHOT_EPOCH_HEADER,
  SNAPSHOT_VERSION_HEADER,
  decodeSnapshotMessage,
  encodeSnapshotMessage,
  ensureSnapshotStream,
  newerSnapshot,
  snapshotSubject,
} from './snapshot-stream.js';

export interface JetStreamSnapshotStoreOptions {
  /**
   * A connection the caller owns (and closes), or options to connect with: the store then owns that connection and
   * drains it on close.
   */
  readonly connection: NatsConnection | NodeConnectionOptions;
  /**
   * The store the persister fills from the stream (Postgres in production). Only read here: it holds what the
   * stream may no longer have. Never closed by this store.
   */
  readonly durable: SnapshotStore;
  /** Stream name. Default `P3_SNAPSHOTS`; created (file storage, last message per subject) when missing. */
  readonly stream?: string;
  /** First subject token, one token of [A-Za-z0-9_-] (the persister maps subjects back to rooms). Default `p3`. */
  readonly prefix?: string;
  /** Replicas of a stream this store creates. Default 1; production clusters use 3. */
  readonly replicas?: number;
  /** How long to wait for a PubAck and for each JetStream API call. Default 5,000 ms. */
  readonly timeoutMs?: number;
  /** Reads-and-publishes per save before it rejects (another writer kept winning the race). Default 10. */
  readonly maxAttempts?: number;
  /** Warned when a publish had no answer and is being retried. */
  readonly logger?: Pick<Logger, 'warn'>;
}

/** Where a snapshot stands in the fencing order. */
type Position = Pick<StoredSnapshot, 'epoch' | 'version'>;

/** The stream's last message of a room: its sequence (0: none) and position, compared against before a publish. */
interface StreamHead {
  readonly seq: number;
  readonly position: Position | null;
}

/**
 * Room snapshots for the cluster: `save` publishes to the durable JetStream snapshot stream (see
 * `snapshot-stream.ts`), from which the persister writes the durable store (Postgres); `load` returns the newer of
 * the stream's last message for the room and the durable store's row, so a snapshot is found whether or not the
 * persister has written it yet.
 *
 * What a resolved `'saved'` means: the PubAck came back, so the snapshot is in the stream's file store. With
 * `replicas: 1` that survives kill -9 of this process and of the NATS server process, but a machine crash or power
 * loss can lose what was acknowledged since the server's last fsync (default every 2 min); with `replicas: 3` a
 * PubAck means a quorum (2 of 3 servers) stored it, so it survives the loss of any one machine. Postgres has it only
 * once the persister got to it; until then `load` reads it from the stream.
 *
 * Fencing: a save first reads the room's newest known snapshot, the stream's last message for the subject and then
 * the durable store's row (in that order: if the persister removes a message after writing it, the row is already
 * there when we look), and resolves `'stale'` unless the candidate `isNewer` than both. Otherwise it publishes with
 * the expected last subject sequence of the message it compared against, so a save of another simulator landing
 * between the read and the publish makes the server refuse ours; the save then reads again and decides again (at
 * most `maxAttempts` times). Only the stream is written, so the check-then-publish on the subject is the whole
 * critical section. Saves of one room through one store run one at a time, in call order, so they never race each
 * other.
 *
 * A message is stored whole or not at all, so `load` is never torn. A snapshot must fit the server's max_payload
 * (1 MB by default) with its JSON envelope; a bigger one rejects its save.
 *
 * @example
 * const store = await JetStreamSnapshotStore.open({ connection: nc, durable: postgresStore, replicas: 3 });
 * await store.save({ tenant: 'default', room: 'lobby' }, { kind: 'world', version: 42, epoch: 7, data });
 */
export class JetStreamSnapshotStore implements SnapshotStore {
  /** Per room, the tail of its saves' chain; dropped when the room's last queued save settles. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly durable: SnapshotStore,
    private readonly stream: string,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly maxAttempts: number,
    private readonly logger: Pick<Logger, 'warn'> | undefined,
  ) {}

  /** Connects (unless given a connection) and creates the stream if missing; rejects when either fails. */
  static async open(options: JetStreamSnapshotStoreOptions): Promise<JetStreamSnapshotStore> {
    const prefix = options.prefix ?? 'p3';
    // One token: `roomOfSnapshotSubject` (the persister's side) expects `<prefix>.snap.<tenant>.<room>`.
    if (!/^[A-Za-z0-9_-]+$/.test(prefix))
      throw new RangeError(`snapshot subject prefix must be one token of [A-Za-z0-9_-], got "${prefix}"`);
    const maxAttempts = options.maxAttempts ?? 10;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1)
      throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
    const timeoutMs = options.timeoutMs ?? 5000;
    const given = isConnection(options.connection) ? options.connection : undefined;
    const nc = given ?? (await connect(options.connection as NodeConnectionOptions));
    try {
      const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
      const { stream } = await ensureSnapshotStream(jsm, {
        stream: options.stream,
        prefix,
        replicas: options.replicas,
      });
      return new JetStreamSnapshotStore(
        nc,
        given === undefined,
        jsm,
        jetstream(nc, { timeout: timeoutMs }),
        options.durable,
        stream,
        prefix,
        timeoutMs,
        maxAttempts,
        options.logger,
      );
    } catch (error) {
      if (given === undefined) await nc.close();
      throw error;
    }
  }

  async load(key: RoomKey): Promise<StoredSnapshot | null> {
    // Stream first, then the durable store: see the class doc for why the order matters.
    const last = await this.lastMessage(snapshotSubject(this.prefix, key));
    const fromStream = last === null ? null : decodeSnapshotMessage(last.data).snapshot;
    return newerSnapshot(fromStream, await this.durable.load(key));
  }

  save(key: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    if (this.closed) return Promise.reject(new Error('snapshot store is closed'));
    // Encoded now: a caller mutating `data` after the call must not change what is saved.
    const payload = encodeSnapshotMessage(key, snapshot);
    const candidate: Position = { epoch: snapshot.epoch, version: snapshot.version };
    return this.enqueue(roomMapKey(key), () => this.fencedPublish(key, candidate, payload));
  }

  /** Waits for queued saves to settle, then drains the connection if this store opened it. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.chains.values()].map((tail) => tail.catch(() => undefined)));
    if (this.ownsConnection && !this.nc.isClosed()) await this.nc.drain();
  }

  private enqueue<T>(mapKey: string, run: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(mapKey) ?? Promise.resolve();
    const result = previous.catch(() => undefined).then(run);
    this.chains.set(mapKey, result);
    const forget = () => {
      if (this.chains.get(mapKey) === result) this.chains.delete(mapKey);
    };
    result.then(forget, forget);
    return result;
  }

  private async fencedPublish(key: RoomKey, candidate: Position, payload: Uint8Array): Promise<SaveOutcome> {
    const subject = snapshotSubject(this.prefix, key);
    const hdrs = positionHeaders(candidate);
    // Kept across an unanswered publish (it may have been stored: the stream's dedupe window absorbs a repeat);
    // renewed after a refusal, which the server answered, so nothing of it was stored.
    let msgID = randomUUID();
    for (let attempt = 1; ; attempt += 1) {
      const head = await this.head(subject);
      const newest = newerPosition(head.position, await this.durable.load(key));
      if (newest !== null && !isNewer(candidate, newest)) return 'stale';
      try {
        await this.js.publish(subject, payload, {
          headers: hdrs,
          msgID,
          timeout: this.timeoutMs,
          expect: { streamName: this.stream, lastSubjectSequence: head.seq },
        });
        return 'saved';
      } catch (error) {
        const refused = error instanceof JetStreamApiError;
        const raced = refused && error.code === JetStreamApiCodes.StreamWrongLastSequence;
        // Any other refusal (stream full, payload too big, ...) will not change its mind on a retry.
        if ((refused && !raced) || attempt >= this.maxAttempts)
          throw new Error(`snapshot save to ${subject} failed after ${attempt} attempt(s)`, { cause: error });
        if (refused) msgID = randomUUID();
        else
          this.logger?.warn({ err: error, subject, attempt }, 'snapshot store: publish unanswered, retrying');
      }
    }
  }

  private async head(subject: string): Promise<StreamHead> {
    const last = await this.lastMessage(subject);
    return last === null ? { seq: 0, position: null } : { seq: last.seq, position: positionOf(last) };
  }

  private lastMessage(subject: string): Promise<StoredMsg | null> {
    return this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
  }
}

function isConnection(value: NatsConnection | NodeConnectionOptions): value is NatsConnection {
  return typeof (value as Partial<NatsConnection>).publish === 'function';
}

function positionHeaders(position: Position): MsgHdrs {
  const hdrs = headers();
  hdrs.set(SNAPSHOT_EPOCH_HEADER, String(position.epoch));
  hdrs.set(SNAPSHOT_VERSION_HEADER, String(position.version));
  return hdrs;
}

/** From the headers when present (no need to parse a large snapshot to fence), else from the payload. */
function positionOf(message: StoredMsg): Position {
  const epoch = Number(message.header.get(SNAPSHOT_EPOCH_HEADER) || Number.NaN);
  const version = Number(message.header.get(SNAPSHOT_VERSION_HEADER) || Number.NaN);
  if (Number.isSafeInteger(epoch) && Number.isSafeInteger(version)) return { epoch, version };
  const { snapshot } = decodeSnapshotMessage(message.data);
  return { epoch: snapshot.epoch, version: snapshot.version };
}

function newerPosition(a: Position | null, b: Position | null): Position | null {
  if (a === null) return b;
  if (b === null) return a;
  return isNewer(a, b) ? a : b;
}
