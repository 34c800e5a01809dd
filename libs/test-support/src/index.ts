export * from './raw-client.js';
export * from './services.js';
export * from './ecs-sync-test-client.js';
export * from './tokens.js';
export * from './chromium.js';
export * from './property.js';
export * from './fault-proxy.js';
