export * from './migrations.js';
export * from './persister-config.js';
export * from './persister.js';
