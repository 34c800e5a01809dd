import type { PatchBroadcast } from '@p3/protocol';
import type { Session } from './Session.js';

/**
 * The accepted sessions of a room, counted per client, and the fan-out to them (encode once, send many). Every
 * text goes through `send` (the room's: at once, or through its durable outbox).
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly perClient = new Map<string, number>();

  constructor(private readonly send: (session: Session, text: string) => void) {}

  get size(): number {
    return this.sessions.size;
  }

  get(sessionId: string): Session | undefined {
    return this.sessions.get(sessionId);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  add(session: Session): void {
    this.sessions.set(session.sessionId, session);
    this.perClient.set(session.clientId, (this.perClient.get(session.clientId) ?? 0) + 1);
  }

  /** Removes a session; returns whether it was its client's last one (undefined when it was not registered). */
  remove(session: Session): boolean | undefined {
    if (this.sessions.get(session.sessionId) !== session) return undefined;
    this.sessions.delete(session.sessionId);
    const left = (this.perClient.get(session.clientId) ?? 1) - 1;
    if (left > 0) this.perClient.set(session.clientId, left);
    else this.perClient.delete(session.clientId);
    return left === 0;
  }

  clear(): void {
    this.sessions.clear();
    this.perClient.clear();
  }

  /**
   * Sends a patch to every session but `except`, stamped `timestamp`, or 0 for sessions whose reconnect was not
   * answered yet (see Session.synced). Each variant is encoded once.
   */
  broadcastPatch(
    body: Omit<PatchBroadcast, 'type' | 'timestamp'>,
    timestamp: number,
    except?: Session,
  ): void {
    let synced: string | undefined;
    let unsynced: string | undefined;
    for (const session of this.sessions.values()) {
      if (session === except) continue;
      if (session.synced)
        this.send(session, (synced ??= JSON.stringify({ type: 'patch', ...body, timestamp })));
      else this.send(session, (unsynced ??= JSON.stringify({ type: 'patch', ...body, timestamp: 0 })));
    }
  }

  broadcastClientCount(): void {
    const text = JSON.stringify({ type: 'clientCount', count: this.sessions.size });
    for (const session of this.sessions.values()) this.send(session, text);
  }
}
