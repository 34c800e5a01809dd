export * from './simulator.js';
export * from './simulator-config.js';
export * from './simulator-metrics.js';
export * from './cluster-simulator.js';
export * from './cluster-room-output.js';
export * from './cluster-simulator-config.js';
