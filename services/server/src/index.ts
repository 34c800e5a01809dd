export * from './p3-server.js';
export * from './p3-connection.js';
export * from './server-config.js';
export { arenaWorld, ARENA } from '@p3/engine/arena-world';
export { buildDemoFiles } from './demo/demo-bundle.js';
