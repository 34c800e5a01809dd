import { defineConfig } from 'vitest/config';

// Two cores on CI: two workers. Integration tests use ephemeral ports and unique prefixes, so files run in parallel.
export default defineConfig({
  test: {
    include: ['{libs,services}/*/test/**/*.test.ts', 'loadtest/test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Generous: CI has two loaded cores; tests wait on events with their own shorter deadlines.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
