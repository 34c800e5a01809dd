export * from './p3-server.js';
export * from './p3-connection.js';
export * from './server-config.js';
export { arenaWorld, ARENA } from './demo/arena-world.js';
export { buildDemoFiles } from './demo/demo-bundle.js';
