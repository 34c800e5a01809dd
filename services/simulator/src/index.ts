export * from './simulator.js';
export * from './simulator-config.js';
export * from './simulator-metrics.js';
