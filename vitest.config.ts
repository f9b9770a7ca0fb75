import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real sshd and PostgreSQL servers; keep the 2-core machine responsive.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
