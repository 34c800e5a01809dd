import { DiscardPolicy, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { ensureStream } from './jetstream-stream.js';
import { decodeIdToken, encodeIdToken } from '../id-token.js';
import { isNewer, type RoomKey, type StoredSnapshot } from '../ports/snapshot-store.js';

/**
 * The cluster's snapshot stream: simulators publish room snapshots to a durable JetStream stream, the persister
 * consumes it and writes Postgres (a Postgres outage delays writes and loses none). One subject per room,
 * `<prefix>.snap.<tenant>.<room>` (ids as `encodeIdToken` tokens); the stream keeps the last message of each
 * subject only: a snapshot supersedes the ones before it, so a room's older snapshots that the persister has not
 * written yet are never needed, and the stream's size is bounded by the number of rooms.
 *
 * A message is the JSON of `{ tenant, room, snapshot }`, with the fencing position in headers as well
 * (`P3-Epoch`, `P3-Version`), so a reader can compare positions without parsing the snapshot.
 */
export const SNAPSHOT_EPOCH_HEADER = 'P3-Epoch';
export const SNAPSHOT_VERSION_HEADER = 'P3-Version';
export const defaultSnapshotStream = 'P3_SNAPSHOTS';

export interface SnapshotStreamOptions {
  /** Stream name. Default `P3_SNAPSHOTS`. */
  readonly stream?: string;
  /** First subject token: tests and tenants of a shared NATS never collide. Default `p3`. */
  readonly prefix?: string;
  /** Stream replicas (production: 3, so a publish ack means a quorum stored it). Default 1. */
  readonly replicas?: number;
}

/** The subject of one room's snapshots. */
export function snapshotSubject(prefix: string, key: RoomKey): string {
  return `${prefix}.snap.${encodeIdToken(key.tenant)}.${encodeIdToken(key.room)}`;
}

/** The room a snapshot subject names; null for a subject of another layout. */
export function roomOfSnapshotSubject(prefix: string, subject: string): RoomKey | null {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== prefix || parts[1] !== 'snap') return null;
  const tenant = decodeIdToken(parts[2]!);
  const room = decodeIdToken(parts[3]!);
  return tenant === null || room === null ? null : { tenant, room };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeSnapshotMessage(key: RoomKey, snapshot: StoredSnapshot): Uint8Array {
  return encoder.encode(JSON.stringify({ tenant: key.tenant, room: key.room, snapshot }));
}

/** The room and snapshot of a message; throws on bytes that are not one (a bug or a foreign publisher). */
export function decodeSnapshotMessage(data: Uint8Array): { key: RoomKey; snapshot: StoredSnapshot } {
  const value = JSON.parse(decoder.decode(data)) as {
    tenant?: unknown;
    room?: unknown;
    snapshot?: Partial<StoredSnapshot>;
  };
  const s = value.snapshot;
  if (
    typeof value.tenant !== 'string' ||
    typeof value.room !== 'string' ||
    s === undefined ||
    (s.kind !== 'world' && s.kind !== 'document') ||
    !Number.isSafeInteger(s.version) ||
    !Number.isSafeInteger(s.epoch) ||
    !('data' in s)
  )
    throw new Error('not a snapshot message');
  return { key: { tenant: value.tenant, room: value.room }, snapshot: s as StoredSnapshot };
}

/** The newer of two snapshots by (epoch, version); either may be missing. */
export function newerSnapshot(a: StoredSnapshot | null, b: StoredSnapshot | null): StoredSnapshot | null {
  if (a === null) return b;
  if (b === null) return a;
  return isNewer(a, b) ? a : b;
}

/** Creates the stream if it does not exist; fails if a stream of that name captures other subjects. */
export async function ensureSnapshotStream(
  jsm: JetStreamManager,
  options: SnapshotStreamOptions = {},
): Promise<{ stream: string; prefix: string }> {
  const stream = options.stream ?? defaultSnapshotStream;
  const prefix = options.prefix ?? 'p3';
  await ensureStream(jsm, stream, `${prefix}.snap.>`, {
    retention: RetentionPolicy.Limits,
    // The newest snapshot of each room is all that matters: older ones are dropped, never refused.
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    num_replicas: options.replicas ?? 1,
  });
  return { stream, prefix };
}
