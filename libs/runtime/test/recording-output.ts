import type { ServerMessage } from '@p3/protocol';
import type { JoinResult, RoomKey, RoomOutput, RoomSession } from '@p3/runtime';

/**
 * A RoomOutput that records everything, for assertions. Like the gateway on uWS, `close` ends the member's socket
 * at once: the socket's close handler runs synchronously inside the call and gives its session back (`leave`),
 * for every session handed to `track` (what a socket holds after its join).
 */
export class RecordingOutput implements RoomOutput {
  readonly broadcasts: ServerMessage[] = [];
  readonly sent: Array<{ connectionId: string; message: ServerMessage }> = [];
  readonly closed: Array<{ connectionId: string; code: number; reason: string }> = [];
  /** The open "socket" of each connection id: the session its join returned. */
  private readonly sockets = new Map<string, RoomSession>();

  /** A joined socket: `close` of its connection runs its session's `leave`, as the gateway's close handler does. */
  track(result: JoinResult): JoinResult {
    if (result.ok) this.sockets.set(result.connectionId, result.session);
    return result;
  }

  broadcast(_key: RoomKey, message: ServerMessage): void {
    this.broadcasts.push(message);
  }
  send(_key: RoomKey, connectionId: string, message: ServerMessage): void {
    this.sent.push({ connectionId, message });
  }
  close(_key: RoomKey, connectionId: string, code: number, reason: string): void {
    this.closed.push({ connectionId, code, reason });
    const session = this.sockets.get(connectionId);
    this.sockets.delete(connectionId);
    session?.leave();
  }
  to(connectionId: string): ServerMessage[] {
    return this.sent.filter((s) => s.connectionId === connectionId).map((s) => s.message);
  }
  frames(): Array<Extract<ServerMessage, { type: 'frame' }>['frame']> {
    return this.broadcasts.flatMap((m) => (m.type === 'frame' ? [m.frame] : []));
  }
}
