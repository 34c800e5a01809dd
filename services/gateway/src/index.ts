export * from './gateway.js';
export * from './gateway-config.js';
export * from './gateway-metrics.js';
export * from './auth.js';
export * from './room-fanout.js';
export * from './http/http-response.js';
export * from './http/static-files.js';
export * from './uws.js';
export type { SocketData } from './socket-data.js';
