import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { storeContract } from './contract.js';

const url = process.env.TEST_POSTGRES_URL;

describe.skipIf(!url)('PostgreSQL (TEST_POSTGRES_URL)', () => {
  storeContract('postgres', () => url!);

  it('never shows the password of a working URL in an error', async () => {
    const secret = 'Sup3r-s3cret-pg-pw';
    const parsed = new URL(url!);
    parsed.password = secret;
    // The server may accept or refuse the password (trust auth ignores it): either way, no leak.
    const store = await openStore(parsed.toString()).catch((e: unknown) => e as Error);
    if (store instanceof Error) {
      expect(store.message).not.toContain(secret);
      return;
    }
    await store.close();
    const error = await store.get('x').catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('***');
    expect((error as Error).message).not.toContain(secret);
  });

  it('purges expired rows at open, leaving live and unrecognised rows alone', async () => {
    await (await openStore(url!)).close(); // creates the tables
    const p = `purge-${randomUUID()}:`;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const long = Date.now() + 3_600_000;
      await client.query(
        `INSERT INTO loudhailer_kv (key, value) VALUES ($1, '{"value":1,"expires":1000}'), ($2, $3), ($4, '{"value":3}'), ($5, 'not json "expires":5}')`,
        [`loudhailer:${p}old`, `loudhailer:${p}live`, `{"value":2,"expires":${long}}`, `loudhailer:${p}forever`, `loudhailer:${p}odd`],
      );
      await client.query(
        `INSERT INTO loudhailer_claims (key, expires_at) VALUES ($1, now() - interval '1 minute'), ($2, now() + interval '1 hour'), ($3, NULL)`,
        [`${p}old`, `${p}live`, `${p}forever`],
      );
      const store = await openStore(url!);
      try {
        const kv = await client.query('SELECT key FROM loudhailer_kv WHERE key LIKE $1 ORDER BY key', [`loudhailer:${p}%`]);
        expect(kv.rows.map((row: { key: string }) => row.key)).toEqual(['forever', 'live', 'odd'].map((k) => `loudhailer:${p}${k}`));
        const claims = await client.query('SELECT key FROM loudhailer_claims WHERE key LIKE $1 ORDER BY key', [`${p}%`]);
        expect(claims.rows.map((row: { key: string }) => row.key)).toEqual([`${p}forever`, `${p}live`]);
        expect(await store.get(`${p}live`)).toBe(2);
        expect(await store.claim(`${p}live`)).toBe(false);
        expect(await store.claim(`${p}old`, 1000)).toBe(true);
      } finally {
        await store.close();
      }
      await client.query('DELETE FROM loudhailer_kv WHERE key LIKE $1', [`loudhailer:${p}%`]);
      await client.query('DELETE FROM loudhailer_claims WHERE key LIKE $1', [`${p}%`]);
    } finally {
      await client.end();
    }
  });
});
