export * from './p3-server.js';
export * from './p3-connection.js';
