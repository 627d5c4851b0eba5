import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 30_000,
    // Captures the suite's logs and fails the run if a secret appears in them.
    globalSetup: ['test/global-setup.ts'],
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more workers only queue on the CPU and slow PGlite start-ups.
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
