import { describe, expect, it } from 'vitest';
import { ConfigError } from '@p3/runtime';
import { defaultSimulatorConfig, simulatorConfigFromEnv } from '../src/simulator-config.js';

describe('simulator settings from the environment', () => {
  it('acks a member that keeps sending every P3_ACK_INTERVAL_MS (default 250, 0 every tick), invalid values refused', () => {
    expect(defaultSimulatorConfig.ackIntervalMs).toBe(250);
    expect(simulatorConfigFromEnv({}).ackIntervalMs).toBe(250);
    expect(simulatorConfigFromEnv({ P3_ACK_INTERVAL_MS: '1000' }).ackIntervalMs).toBe(1000);
    expect(simulatorConfigFromEnv({ P3_ACK_INTERVAL_MS: '0' }).ackIntervalMs).toBe(0);
    expect(() => simulatorConfigFromEnv({ P3_ACK_INTERVAL_MS: '-1' })).toThrow(ConfigError);
    expect(() => simulatorConfigFromEnv({ P3_ACK_INTERVAL_MS: 'often' })).toThrow(/P3_ACK_INTERVAL_MS/);
  });
});
