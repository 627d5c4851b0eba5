import { defineConfig } from 'vitest/config';

// The fast layer (`npm run test:unit`): unit tests beside pure modules (parsers, encoders, policies).
// No global setup, no database, no server: it runs in seconds on a fresh checkout.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 10_000,
    pool: 'threads',
  },
});
