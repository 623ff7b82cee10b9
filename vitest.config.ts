import { defineConfig } from 'vitest/config';

// Tests share one process per file; the wasm backend is initialised once per worker.
export default defineConfig({
  test: {
    include: ['properties/**/*.test.ts'],
    setupFiles: ['properties/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
