import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { sqlitePath } from '../../src/store/sqlite.js';
import { sleep, storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'loudhailer-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract('sqlite', () => `sqlite://${join(dir, 'store.sqlite')}`);

describe('SQLite specifics', () => {
  it('creates the parent directories of the file', async () => {
    const file = join(dir, 'nested', 'dir', 'x.sqlite');
    const store = await openStore(`sqlite://${file}`);
    try {
      await store.set('k', { v: 1 });
      expect(await store.get('k')).toEqual({ v: 1 });
      expect(existsSync(file)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('reads sqlite://<path> relative to the working directory, sqlite:///<path> as absolute', () => {
    expect(sqlitePath('sqlite://data/loudhailer.sqlite')).toBe(resolve('data/loudhailer.sqlite'));
    expect(sqlitePath('sqlite:///var/lib/x.sqlite')).toBe('/var/lib/x.sqlite');
    expect(sqlitePath('sqlite://:memory:')).toBe(':memory:');
    expect(sqlitePath('sqlite://')).toBeUndefined();
  });

  it('supports sqlite://:memory: (one private database per instance)', async () => {
    const store = await openStore('sqlite://:memory:');
    try {
      await store.set('k', 'v', 60_000);
      expect(await store.get('k')).toBe('v');
      expect(await store.claim('c')).toBe(true);
      expect(await store.claim('c')).toBe(false);
      await store.addToSet('s', 'm');
      expect(await store.members('s')).toEqual(['m']);
    } finally {
      await store.close();
    }
  });

  it('purges expired rows at open, leaving live and unrecognised rows alone', async () => {
    const file = join(dir, 'purge.sqlite');
    await (await openStore(`sqlite://${file}`)).close(); // creates the tables
    const db = await new Promise<sqlite3.Database>((ok, fail) => {
      const handle = new sqlite3.Database(file, (error) => (error ? fail(error) : ok(handle)));
    });
    const run = (sql: string, ...params: unknown[]): Promise<void> =>
      new Promise((ok, fail) => db.run(sql, params, (error) => (error ? fail(error) : ok())));
    const all = (sql: string): Promise<unknown[]> =>
      new Promise((ok, fail) => db.all(sql, (error, rows) => (error ? fail(error) : ok(rows))));
    try {
      const long = Date.now() + 3_600_000;
      await run(`INSERT INTO loudhailer_kv (key, value) VALUES ('loudhailer:old', '{"value":1,"expires":1000}'),
        ('loudhailer:live', '{"value":2,"expires":${long}}'), ('loudhailer:forever', '{"value":3}'),
        ('loudhailer:odd', 'not json "expires":5}')`);
      await run(`INSERT INTO loudhailer_claims (key, expires_at) VALUES ('old', 1000), ('live', ${long}), ('forever', NULL)`);
      const store = await openStore(`sqlite://${file}`);
      try {
        expect(await all('SELECT key FROM loudhailer_kv ORDER BY key')).toEqual(
          ['loudhailer:forever', 'loudhailer:live', 'loudhailer:odd'].map((key) => ({ key })),
        );
        expect(await all('SELECT key FROM loudhailer_claims ORDER BY key')).toEqual(['forever', 'live'].map((key) => ({ key })));
        expect(await store.get('live')).toBe(2);
        expect(await store.claim('live')).toBe(false);
        expect(await store.claim('old')).toBe(true);
      } finally {
        await store.close();
      }
    } finally {
      await new Promise<void>((ok) => db.close(() => ok()));
    }
  });

  it('runs the file in WAL mode', async () => {
    const file = join(dir, 'wal.sqlite');
    await (await openStore(`sqlite://${file}`)).close();
    const mode = await new Promise<unknown>((ok, fail) => {
      const db = new sqlite3.Database(file, (error) => {
        if (error) return fail(error);
        db.get('PRAGMA journal_mode', (err, row) => db.close(() => (err ? fail(err) : ok(row))));
      });
    });
    expect(mode).toEqual({ journal_mode: 'wal' });
  });

  it('waits for another connection holding the write lock instead of reporting a lost claim', async () => {
    const file = join(dir, 'busy.sqlite');
    const store = await openStore(`sqlite://${file}`);
    const locker = await new Promise<sqlite3.Database>((ok, fail) => {
      const db = new sqlite3.Database(file, (error) => (error ? fail(error) : ok(db)));
    });
    const exec = (sql: string): Promise<void> => new Promise((ok, fail) => locker.exec(sql, (error) => (error ? fail(error) : ok())));
    try {
      await exec('BEGIN EXCLUSIVE');
      const started = Date.now();
      const claim = store.claim('busy-key');
      const value = store.get('anything');
      await sleep(500);
      await exec('COMMIT');
      expect(await claim).toBe(true);
      expect(await value).toBeUndefined();
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(await store.claim('busy-key')).toBe(false);
    } finally {
      await new Promise<void>((ok) => locker.close(() => ok()));
      await store.close();
    }
  });
});
