import { defineConfig } from 'vitest/config';

// Test files run in forked processes, which inherit this. SQLite (node-sqlite3) runs every
// statement on libuv's thread pool, 4 threads by default: a test that holds SQLite's write
// lock from a second connection while several statements wait for it needs a free thread
// to commit, and must not depend on how many statements happen to be queued.
process.env.UV_THREADPOOL_SIZE ??= '16';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
