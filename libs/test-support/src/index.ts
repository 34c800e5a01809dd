export * from './raw-client.js';
export * from './services.js';
