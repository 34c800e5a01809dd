import type { ErrorCode } from './errors.js';
import type { JsonValue } from './json-value.js';
import type { FieldValue, WorldSchema } from './schema.js';

/** `verified`, `generated`, `corrected` come from the server; `predicted` frames exist only on a client. */
export const FrameType = {
  Verified: 'verified',
  Generated: 'generated',
  Corrected: 'corrected',
  Predicted: 'predicted',
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export type EntityFields = Record<string, FieldValue>;
export type InputState = Record<string, boolean>;

/** Something that happened at a frame. `id` is stable across corrections, so clients drop duplicates by it. */
export interface GameEvent {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly originalFrame: number;
  readonly data: JsonValue;
}

/**
 * What changed on one entity in one frame. `created` entries carry every replicable field and the owner;
 * other entries carry only the fields that changed. `typeName` is always present so a decoder needs no state.
 */
export interface EntityUpdate {
  readonly id: string;
  readonly typeName: string;
  readonly created?: boolean;
  /** Owning connection id (`null`: owned by the server). Present on creation and ownership changes. */
  readonly owner?: string | null;
  readonly fields?: EntityFields;
  readonly input?: InputState;
}

/** The state change of one tick. */
export interface Frame {
  readonly id: number;
  readonly type: FrameType;
  /** Room time of the frame in ms (frame id x tick interval): monotonic, not wall-clock. */
  readonly time: number;
  readonly events: readonly GameEvent[];
  readonly entities: readonly EntityUpdate[];
  /** Ids of entities removed in this frame. */
  readonly removed: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Client -> server

export interface InputOp {
  readonly op: 'input';
  /** Frame the op is meant for; omitted: the next tick. */
  readonly frame?: number;
  readonly entityId: string;
  readonly input: InputState;
}
export interface CreateOp {
  readonly op: 'create';
  readonly frame?: number;
  readonly entityId: string;
  readonly typeName: string;
  readonly data: EntityFields;
}
export interface UpdateOp {
  readonly op: 'update';
  readonly frame?: number;
  readonly entityId: string;
  readonly data: EntityFields;
}
export interface DeleteOp {
  readonly op: 'delete';
  readonly frame?: number;
  readonly entityId: string;
}
export interface EventOp {
  readonly op: 'event';
  readonly frame?: number;
  readonly name: string;
  readonly eventType: string;
  readonly data: JsonValue;
}
export type Op = InputOp | CreateOp | UpdateOp | DeleteOp | EventOp;

/** First message on a connection. */
export interface JoinMessage {
  readonly type: 'join';
  readonly protocolVersion: number;
  readonly room: string;
  /** Stable identity of the emitter (one SDK instance); with `sessionStamp` it scopes sequence numbers. */
  readonly clientId: string;
  readonly sessionStamp: number;
  readonly token?: string;
  /** Resume a previous session: the last frame the client holds. The server answers with a delta since it. */
  readonly resumeFrame?: number;
}

/**
 * A batch of state-changing ops. Op i has sequence number `seq + i` within `(clientId, stamp)`.
 * `through` declares the client's inputs complete up to that frame (a frame is `verified` once every owner covered it).
 */
export interface OpsMessage {
  readonly type: 'ops';
  readonly stamp: number;
  readonly seq: number;
  readonly through?: number;
  readonly ops: readonly Op[];
}

/**
 * Declares inputs complete through `through`, and the client idle: it sends no inputs until its next `ops`, so
 * the frames ticked meanwhile can be `verified` too (an op that then arrives late corrects them, as any late op
 * does). An `ops` message ends the idle declaration; its `through`, when present, covers up to that frame. A client
 * sends one `cover` when it falls idle, not one per send interval.
 */
export interface CoverMessage {
  readonly type: 'cover';
  readonly through: number;
}

export interface FrameAckMessage {
  readonly type: 'frameAck';
  readonly frame: number;
}

/** Clock sync probe. `clientTime` is the client's monotonic clock, echoed back. */
export interface PingMessage {
  readonly type: 'ping';
  readonly id: number;
  readonly clientTime: number;
}

/** Ask for everything since a frame (a detected gap): answered with a `catchup`. */
export interface ResyncMessage {
  readonly type: 'resync';
  readonly frame: number;
}

export interface LeaveMessage {
  readonly type: 'leave';
}

export type ClientMessage =
  JoinMessage | OpsMessage | CoverMessage | FrameAckMessage | PingMessage | ResyncMessage | LeaveMessage;

// ---------------------------------------------------------------------------------------------------------------
// Server -> client

export interface WelcomeMessage {
  readonly type: 'welcome';
  readonly protocolVersion: number;
  readonly connectionId: string;
  readonly room: string;
  readonly schema: WorldSchema;
  readonly tickRate: number;
  readonly bufferFrame: number;
  /** Frame the state below is at. */
  readonly frame: number;
  /** Room time in ms when the welcome was sent (for the first clock-sync sample). */
  readonly serverTime: number;
  /** Highest contiguous sequence number already applied for the client's (clientId, sessionStamp): resend after it. */
  readonly lastSeq: number;
  /** True when the state is a delta since `resumeFrame`; false when it replaces the client's world. */
  readonly delta: boolean;
  readonly entities: readonly EntityUpdate[];
  readonly removed: readonly string[];
}

/**
 * One frame of the room's stream. The stream skips ticks that changed nothing (no entity changes, events or
 * removals): `prev` names the frame this one follows, so frames `prev + 1 .. frame.id - 1` were empty. Absent: the
 * frame before (`frame.id - 1`), as a re-issued (`corrected`) frame always is. A client holding frame L applies a
 * frame when `prev <= L < frame.id`; `prev > L` means it missed something: a gap (resync).
 */
export interface FrameMessage {
  readonly type: 'frame';
  readonly frame: Frame;
  readonly prev?: number;
}

/**
 * Heartbeat of a room whose ticks change nothing: frames `prev + 1 .. through` were empty (nothing changed, no
 * events), sent at most once per heartbeat interval (default 1 s) while nothing else is. `prev` is the last frame
 * the stream accounted for (a frame or a heartbeat), so a client holding frame L advances to `through` when
 * `prev <= L`, and resyncs from L when `prev > L` (it missed something). The next message follows `through`.
 */
export interface IdleMessage {
  readonly type: 'idle';
  readonly prev: number;
  readonly through: number;
}

/**
 * A coalesced delta from frame `from` (exclusive) to `to`: sent to a client that fell behind (backpressure) or
 * asked to resync. With `full`, it replaces the client's world.
 */
export interface CatchupMessage {
  readonly type: 'catchup';
  readonly from: number;
  readonly to: number;
  readonly full: boolean;
  readonly entities: readonly EntityUpdate[];
  readonly removed: readonly string[];
}

/** Acknowledges ops up to `seq` (contiguous) and lists gaps after it as inclusive ranges (seed 001). */
export interface AckMessage {
  readonly type: 'ack';
  readonly stamp: number;
  readonly seq: number;
  readonly missing?: ReadonlyArray<readonly [number, number]>;
}

/** One op was refused; the others in its batch stand. */
export interface RejectMessage {
  readonly type: 'reject';
  readonly stamp: number;
  readonly seq: number;
  readonly code: ErrorCode;
  readonly reason: string;
}

export interface PongMessage {
  readonly type: 'pong';
  readonly id: number;
  readonly clientTime: number;
  /** Room time in ms (monotonic) when the ping was answered. */
  readonly serverTime: number;
  readonly frame: number;
}

export interface ErrorMessage {
  readonly type: 'error';
  readonly code: ErrorCode;
  readonly reason: string;
}

export type ServerMessage =
  | WelcomeMessage
  | FrameMessage
  | IdleMessage
  | CatchupMessage
  | AckMessage
  | RejectMessage
  | PongMessage
  | ErrorMessage;

export const messageLimits = {
  maxOpsPerMessage: 256,
  maxIdLength: 128,
  maxRoomLength: 128,
  maxTokenLength: 8192,
  maxInputKeys: 32,
  maxDataKeys: 128,
  maxEventNameLength: 128,
  maxMissingRanges: 64,
  maxSeq: 2 ** 31 - 1,
  maxFrame: 2 ** 40,
} as const;
