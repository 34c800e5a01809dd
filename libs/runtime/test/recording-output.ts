import type { ServerMessage } from '@p3/protocol';
import type { RoomKey, RoomOutput } from '@p3/runtime';

/** A RoomOutput that records everything, for assertions. */
export class RecordingOutput implements RoomOutput {
  readonly broadcasts: ServerMessage[] = [];
  readonly sent: Array<{ connectionId: string; message: ServerMessage }> = [];
  readonly closed: Array<{ connectionId: string; code: number; reason: string }> = [];

  broadcast(_key: RoomKey, message: ServerMessage): void {
    this.broadcasts.push(message);
  }
  send(_key: RoomKey, connectionId: string, message: ServerMessage): void {
    this.sent.push({ connectionId, message });
  }
  close(_key: RoomKey, connectionId: string, code: number, reason: string): void {
    this.closed.push({ connectionId, code, reason });
  }
  to(connectionId: string): ServerMessage[] {
    return this.sent.filter((s) => s.connectionId === connectionId).map((s) => s.message);
  }
  frames(): Array<Extract<ServerMessage, { type: 'frame' }>['frame']> {
    return this.broadcasts.flatMap((m) => (m.type === 'frame' ? [m.frame] : []));
  }
}
