import { ErrorCode, P3Error, fail, ok, type Patch, type Result } from '@p3/protocol';
import type { Room } from '@p3/ecs-sync-server';
import type { Principal } from '../room-service.js';
import type { BootstrapObject, DocumentApi, DocumentBootstrap, DocumentFeed } from './document-api.js';
import type { DocumentRooms } from './document-rooms.js';

/** The DocumentApi of the rooms of this process (the single-process server; the cluster simulator answers with it). */
export class LocalDocumentApi implements DocumentApi {
  constructor(private readonly rooms: DocumentRooms) {}

  async bootstrap(
    roomId: string,
    principal: Principal | undefined,
    since: number | undefined,
  ): Promise<Result<DocumentBootstrap>> {
    const room = await this.rooms.open(roomId, principal);
    if (!room.ok) return room;
    return durable(() => documentBootstrap(room.value, since));
  }

  async change(
    roomId: string,
    principal: Principal | undefined,
    patches: readonly Patch[],
    origin: string,
  ): Promise<Result<{ readonly version: number }>> {
    const room = await this.rooms.open(roomId, principal);
    if (!room.ok) return room;
    return durable(async () => {
      const version = room.value.applyPatches(patches, origin);
      await room.value.whenDurable(version);
      return { version };
    }, 'the change may not have been kept: the room could not make it durable (retry)');
  }

  async follow(roomId: string, principal: Principal | undefined): Promise<Result<DocumentFeed>> {
    const room = await this.rooms.open(roomId, principal);
    if (!room.ok) return room;
    return ok(roomFeed(room.value));
  }
}

/** The feed of one loaded room (the simulator serves its followers across the cluster with it too). */
export function roomFeed(room: Room): DocumentFeed {
  return {
    version: room.getVersion(),
    subscribe: (onChange, onEnd) =>
      room.subscribe(
        (change) =>
          onChange({ version: change.timestamp, clientId: change.clientId, patches: change.documentPatches }),
        onEnd,
      ),
    async catchUp(from) {
      const version = room.getVersion();
      const patches = room.diffSince(from);
      await room.whenDurable(version);
      return { version, patches };
    },
  };
}

/** A room's bootstrap (full, or the delta since `since` when its tombstones reach back that far), once durable. */
export async function documentBootstrap(room: Room, since: number | undefined): Promise<DocumentBootstrap> {
  const version = room.getVersion();
  const delta = since === undefined ? undefined : room.changesSince(since);
  let answer: DocumentBootstrap;
  if (since !== undefined && delta?.complete) {
    const objects = delta.changes.map((c) => ({
      key: c.key,
      data: { ...c.fields },
      versions: { ...c.versions },
      ...(c.cleared ? { cleared: true as const } : {}),
    }));
    answer = { version, full: false, since, objects };
  } else {
    answer = {
      version,
      full: true,
      objects: fullObjects(room),
      ...(since === undefined
        ? {}
        : {
            reason: `since=${since} is older than the retained tombstones (horizon ${delta && !delta.complete ? delta.horizon : version}): full state`,
          }),
    };
  }
  // What was read may hold changes not durable yet: it is answered only once they are.
  await room.whenDurable(version);
  return answer;
}

function fullObjects(room: Room): BootstrapObject[] {
  const snapshot = room.getSnapshot();
  const objects: BootstrapObject[] = [];
  for (const [key, data] of Object.entries(snapshot.state)) {
    if (data._exists === false) continue;
    objects.push({ key, data: { ...data }, versions: { ...(snapshot.timestamps[key] ?? {}) } });
  }
  return objects;
}

async function durable<T>(
  run: () => Promise<T>,
  failure = 'the room failed before its state was durable (retry)',
): Promise<Result<T>> {
  try {
    return ok(await run());
  } catch (error) {
    if (error instanceof P3Error && error.code !== ErrorCode.Internal) return fail(error.code, error.message);
    return { ok: false, error: new P3Error(ErrorCode.Internal, failure, { cause: error }) };
  }
}
