import {
  ErrorCode,
  P3Error,
  fail,
  isPlainObject,
  ok,
  type JsonValue,
  type Patch,
  type Result,
} from '@p3/protocol';
import {
  scopedRoomName,
  type Bus,
  type Cancel,
  type DocumentApi,
  type DocumentBootstrap,
  type DocumentCallOp,
  type DocumentFeed,
  type FrameBuffer,
  type Membership,
  type Principal,
  type RoomKey,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { DocumentRoomSockets, DocumentSocketRooms } from '../documents/ecs-sync-endpoint.js';
import type { ClusterMetrics } from './cluster-metrics.js';
import { DocumentLink } from './document-link.js';
import { keyOf, type JoinOutcome, type OwnerRequests } from './owner-requests.js';

export interface ClusterDocumentRoomsOptions {
  readonly gatewayId: string;
  readonly tenant: string;
  readonly bus: Bus;
  readonly buffer: FrameBuffer;
  readonly membership: Membership;
  readonly requests: OwnerRequests;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  readonly metrics: ClusterMetrics;
  /** How often the owners of this gateway's document sockets are checked against the live members. Default 500. */
  readonly ownerCheckMs?: number;
}

/**
 * `/ecs-sync` and the seed-002 HTTP API in the cluster: document rooms run on simulators (owned under a lease, like worlds), and this gateway
 * holds only their sockets, one DocumentLink per room with sockets here. Document rooms send no heartbeat, so a dead
 * owner is noticed from membership: every `ownerCheckMs` the owners of the sockets here are looked up among the
 * live simulators, and the sockets of one that is gone reconnect (to the next owner, which recovers the room from
 * its snapshot and log).
 */
export class ClusterDocumentRooms implements DocumentSocketRooms, DocumentApi {
  private readonly links = new Map<string, DocumentLink>();
  private attachments = 0;
  private cancelCheck: Cancel = () => undefined;
  private closed = false;
  private checks = 0;

  constructor(private readonly options: ClusterDocumentRoomsOptions) {
    this.scheduleCheck();
  }

  async open(roomId: string, principal: Principal | undefined): Promise<Result<DocumentRoomSockets>> {
    const key = this.keyOf(roomId, principal);
    const link = await this.reachableLink(key);
    if (!link.ok) return link;
    const bySession = new Map<string, string>();
    return ok({
      handleSocketConnect: ({ sessionId, socket, clientId }) => {
        const attachment = `${this.options.gatewayId}:d${++this.attachments}`;
        bySession.set(sessionId, attachment);
        link.value.connect(attachment, socket, clientId, principal);
      },
      handleSocketMessage: (sessionId, data) => {
        const attachment = bySession.get(sessionId);
        if (attachment !== undefined) link.value.message(attachment, data);
      },
      handleSocketClose: (sessionId) => {
        const attachment = bySession.get(sessionId);
        bySession.delete(sessionId);
        if (attachment !== undefined) link.value.disconnect(attachment);
      },
    });
  }

  // The seed-002 HTTP API: calls to the room's owner (which claims the room if it must).

  async bootstrap(
    roomId: string,
    principal: Principal | undefined,
    since: number | undefined,
  ): Promise<Result<DocumentBootstrap>> {
    const answer = await this.call(roomId, principal, {
      op: 'bootstrap',
      ...(since === undefined ? {} : { since }),
    });
    if (!answer.ok) return answer;
    const value = answer.value;
    if (!isPlainObject(value) || typeof value.version !== 'number' || !Array.isArray(value.objects))
      return fail(ErrorCode.Internal, 'the room owner answered a bootstrap without a version and objects');
    return ok(value as unknown as DocumentBootstrap);
  }

  async change(
    roomId: string,
    principal: Principal | undefined,
    patches: readonly Patch[],
    origin: string,
  ): Promise<Result<{ readonly version: number }>> {
    const answer = await this.call(roomId, principal, { op: 'change', patches, origin });
    if (!answer.ok) return answer;
    const value = answer.value;
    if (!isPlainObject(value) || typeof value.version !== 'number')
      return fail(ErrorCode.Internal, 'the room owner answered a change without its version');
    return ok({ version: value.version });
  }

  async follow(roomId: string, principal: Principal | undefined): Promise<Result<DocumentFeed>> {
    const key = this.keyOf(roomId, principal);
    const reached = await this.reachableLink(key);
    if (!reached.ok) return reached;
    const link = reached.value;
    const outcome = await this.options.requests.call({
      key,
      ...(principal ? { principal } : {}),
      op: 'follow',
    });
    if (outcome.kind !== 'joined') return failed(outcome);
    const value = outcome.value;
    if (!isPlainObject(value) || typeof value.version !== 'number')
      return fail(ErrorCode.Internal, 'the room owner answered a follow without its version');
    const owner = outcome.owner;
    const epoch = typeof value.epoch === 'number' ? value.epoch : 0;
    return ok({
      version: value.version,
      subscribe: (onChange, onEnd) => link.follow({ onChange, onEnd }, owner, epoch),
      catchUp: async (from) => {
        const answer = await this.call(roomId, principal, { op: 'catchup', from });
        if (!answer.ok) throw answer.error;
        const caught = answer.value;
        if (!isPlainObject(caught) || typeof caught.version !== 'number' || !Array.isArray(caught.patches))
          throw new P3Error(
            ErrorCode.Internal,
            'the room owner answered a catch-up without version and patches',
          );
        return { version: caught.version, patches: caught.patches as Patch[] };
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelCheck();
    for (const link of this.links.values()) link.stop();
    this.links.clear();
  }

  /** The key the simulator's DocumentRooms keeps the room under (team-scoped, `doc/` beside the world rooms). */
  private keyOf(roomId: string, principal: Principal | undefined): RoomKey {
    return { tenant: this.options.tenant, room: `doc/${scopedRoomName(roomId, principal)}` };
  }

  private async call(
    roomId: string,
    principal: Principal | undefined,
    op: DocumentCallOp,
  ): Promise<Result<JsonValue>> {
    const key = this.keyOf(roomId, principal);
    const outcome = await this.options.requests.call({ key, ...(principal ? { principal } : {}), ...op });
    return outcome.kind === 'joined' ? ok(outcome.value) : failed(outcome);
  }

  /** The last stream of this gateway stopped following: the owner stops sending it the changes. */
  private async unfollow(link: DocumentLink): Promise<void> {
    // Best effort: an owner that never hears it sends changes for nobody until this gateway follows again or leaves.
    await this.options.requests.call({ key: link.key, op: 'unfollow' }).catch(() => undefined);
  }

  /** The room's link, or a retryable refusal when it cannot start (the frame buffer, in Redis, is unreachable). */
  private async reachableLink(key: RoomKey): Promise<Result<DocumentLink>> {
    try {
      return ok(await this.linkFor(key));
    } catch (error) {
      this.options.logger.warn({ err: error, room: key.room }, 'document link could not start');
      return fail(ErrorCode.RoomUnavailable, 'the room cannot be reached right now; try again');
    }
  }

  private async linkFor(key: RoomKey): Promise<DocumentLink> {
    for (;;) {
      let link = this.links.get(keyOf(key));
      if (!link) {
        const created = new DocumentLink({
          key,
          gatewayId: this.options.gatewayId,
          bus: this.options.bus,
          buffer: this.options.buffer,
          requests: this.options.requests,
          scheduler: this.options.scheduler,
          logger: this.options.logger,
          metrics: this.options.metrics,
          onEmpty: (empty) => this.retireSoon(empty),
          onUnfollowed: (unfollowed) => void this.unfollow(unfollowed),
        });
        link = created;
        this.links.set(keyOf(key), created);
        this.options.requests.onDetached(key, (attachments) => created.detached(attachments));
      }
      try {
        await link.start();
      } catch (error) {
        if (this.links.get(keyOf(key)) === link) {
          this.links.delete(keyOf(key));
          this.options.requests.onDetached(key, undefined);
        }
        throw error;
      }
      if (!link.isStopped) return link;
    }
  }

  private retireSoon(link: DocumentLink): void {
    this.options.scheduler.after(1000, () => {
      if (link.socketCount > 0 || this.links.get(keyOf(link.key)) !== link) return;
      this.links.delete(keyOf(link.key));
      this.options.requests.onDetached(link.key, undefined);
      link.stop();
    });
  }

  private scheduleCheck(): void {
    this.cancelCheck = this.options.scheduler.after(this.options.ownerCheckMs ?? 500, () => {
      void this.checkOwners().finally(() => {
        if (!this.closed) this.scheduleCheck();
      });
    });
  }

  private async checkOwners(): Promise<void> {
    if (this.links.size === 0) return;
    // Every tenth check (5 s by default) the owners hear which sockets are still here (lost closes end).
    if (++this.checks % 10 === 0) for (const link of this.links.values()) link.sendRoster();
    let live: Set<string>;
    try {
      live = new Set(await this.options.membership.members());
    } catch (error) {
      // Redis away: nobody can be declared dead from here; the leases still fence the rooms.
      this.options.logger.warn({ err: error }, 'membership unreachable: document owners not checked');
      return;
    }
    for (const link of this.links.values())
      for (const owner of link.owners()) if (!live.has(owner)) link.ownerGone(owner);
  }
}

function failed(outcome: Exclude<JoinOutcome<unknown>, { kind: 'joined' }>): { ok: false; error: P3Error } {
  return outcome.kind === 'refused'
    ? { ok: false, error: new P3Error(outcome.code as ErrorCode, outcome.reason) }
    : { ok: false, error: new P3Error(ErrorCode.RoomUnavailable, outcome.reason) };
}
