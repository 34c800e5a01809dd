/**
 * Version of the P3 wire protocol. Travels in `join` and `welcome`; a mismatch closes with CloseCode.ProtocolVersion.
 * 2: rooms skip ticks that change nothing (frames carry `prev`, heartbeats are `idle` messages) and `cover` declares
 * a client idle; a version 1 client would take every skipped frame for a gap.
 * 3: the binary codec sends unbounded numbers in runs per message (float-runs.ts); a version 2 binary decoder would
 * read a run header as the first byte of a float64.
 */
export const PROTOCOL_VERSION = 3;

/** Version of the seed-003 ecs-sync protocol spoken on `/ecs-sync` (the existing client sends 1, or nothing). */
export const ECS_SYNC_PROTOCOL_VERSION = 1;

/** WebSocket subprotocols: the client offers one or both, the server picks; `binary` is the SDK default. */
export const Subprotocol = { Json: 'p3.json', Binary: 'p3.binary' } as const;
export type Subprotocol = (typeof Subprotocol)[keyof typeof Subprotocol];
