export { Room, type DocumentChange, type RoomOptions } from './Room.js';
export { RoomManager, type RoomManagerOptions } from './RoomManager.js';
export type { WebSocketLike } from './WebSocketLike.js';
export type {
  AckResponse,
  ClientCountBroadcast,
  ComponentData,
  ConnectDecision,
  EcsSyncClientMessage,
  EcsSyncErrorResponse,
  EcsSyncServerMessage,
  Patch,
  PatchBroadcast,
  PatchRequest,
  ReconnectRequest,
  RoomSnapshot,
  SessionInfo,
  SessionRemovedInfo,
  VersionMismatchResponse,
} from './types.js';
export { isClosableStorage, type ClosableStorage, type SyncStorage } from './storage/SyncStorage.js';
export type { ChangeLog, LoggedChange } from './storage/ChangeLog.js';
export { MemoryStorage } from './storage/MemoryStorage.js';
export { FileStorage, type FileStorageFs, type FileStorageOptions } from './storage/FileStorage.js';
export { PostgresStorage, type PostgresStorageOptions } from './storage/PostgresStorage.js';
export { parseRoomSnapshot } from './roomSnapshot.js';
