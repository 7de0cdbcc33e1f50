import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import Keyv from 'keyv';
import KeyvSqlite from '@keyv/sqlite';
import { NAMESPACE, type Backend } from './backend.js';
import type { ErrorFactory } from './errors.js';

/** How long a statement waits for another connection's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 10_000;
/** keyv rows are purged this long after their expiry (keyv itself already hides them at read). */
const KV_PURGE_GRACE_MS = 60_000;

const KV_TABLE = `${NAMESPACE}_kv`;

/** `sqlite://data/x.sqlite` (relative to the working directory), `sqlite:///abs/x.sqlite`, `sqlite://:memory:`. */
export function sqlitePath(url: string): string | undefined {
  const location = url.replace(/^sqlite:\/\//i, '');
  if (location === '') return undefined;
  if (location === ':memory:') return location;
  return resolve(location);
}

type Query = (sql: string, ...params: unknown[]) => Promise<unknown[]>;

class AtomicDeleteKeyvSqlite extends KeyvSqlite {
  /** One atomic statement (the base selects, then deletes): exactly one concurrent delete reports true. */
  override async delete(key: string): Promise<boolean> {
    const rows = (await this.query(`DELETE FROM ${KV_TABLE} WHERE key = ? RETURNING key`, key)) as unknown[];
    return rows.length > 0;
  }
}

export async function openSqlite(url: string, errors: ErrorFactory): Promise<Backend> {
  const path = sqlitePath(url);
  if (!path) throw errors.make('open', `STORE_URL ${errors.shownUrl} names no SQLite file: use sqlite://<path>`);

  if (path !== ':memory:') {
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const hint = code === 'EEXIST' || code === 'ENOTDIR' ? ', but part of that path is a file, not a directory' : '';
      throw errors.wrap('open', error, `creating the directory ${dirname(path)} for the SQLite store ${errors.shownUrl}${hint}`);
    }
  }

  // The adapter opens the file and creates its table asynchronously, and only reports a failure
  // through its 'error' event and its query promise: the setup below, started synchronously,
  // is what makes a bad path reject here, at open, rather than on first use.
  const adapter = new AtomicDeleteKeyvSqlite({ uri: `sqlite://${path}`, table: KV_TABLE, busyTimeout: BUSY_TIMEOUT_MS });
  adapter.on('error', () => {
    // Surfaced by the rejected query below / by the failing call: nothing to do here.
  });
  const query = adapter.query as Query;

  const setup = (async () => {
    if (path !== ':memory:') {
      // WAL lets readers and the (single) writer of many connections proceed together;
      // the busy timeout set by the adapter makes writers queue instead of failing.
      await query('PRAGMA journal_mode=WAL');
    }
    await query(`CREATE TABLE IF NOT EXISTS ${NAMESPACE}_claims (key TEXT PRIMARY KEY, expires_at INTEGER NULL, owner TEXT NOT NULL DEFAULT '1')`);
    const columns = (await query(`PRAGMA table_info(${NAMESPACE}_claims)`)) as { name: string }[];
    if (!columns.some((c) => c.name === 'owner')) {
      await query(`ALTER TABLE ${NAMESPACE}_claims ADD COLUMN owner TEXT NOT NULL DEFAULT '1'`);
    }
    await query(
      `CREATE TABLE IF NOT EXISTS ${NAMESPACE}_sets (set_key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (set_key, member)) WITHOUT ROWID`,
    );
  })();

  const purgeExpired = async (): Promise<void> => {
    const now = Date.now();
    await query(`DELETE FROM ${NAMESPACE}_claims WHERE expires_at IS NOT NULL AND expires_at <= ?`, now);
    // keyv stores {"value":…,"expires":<epoch ms>}; rows it would report as missing anyway.
    await query(
      `DELETE FROM ${KV_TABLE} WHERE value LIKE '%"expires":%' AND (CASE WHEN json_valid(value) THEN json_extract(value, '$.expires') END) <= ?`,
      now - KV_PURGE_GRACE_MS,
    );
  };

  try {
    await setup;
    await purgeExpired();
  } catch (error) {
    await adapter.disconnect().catch(() => undefined);
    throw errors.wrap('open', error, `opening the SQLite store ${errors.shownUrl}`);
  }

  const keyv = new Keyv({ store: adapter, namespace: NAMESPACE, throwOnErrors: true });
  keyv.on('error', () => {
    // keyv re-emits what it also throws (throwOnErrors): the caller gets the error.
  });

  return {
    name: 'sqlite',
    keyv,
    async claim(key, ttlMs, owner) {
      const now = Date.now();
      const rows = await query(
        `INSERT INTO ${NAMESPACE}_claims (key, expires_at, owner) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, owner = excluded.owner
         WHERE ${NAMESPACE}_claims.expires_at IS NOT NULL AND ${NAMESPACE}_claims.expires_at <= ?
         RETURNING key`,
        key,
        ttlMs === undefined ? null : now + ttlMs,
        owner,
        now,
      );
      return rows.length === 1;
    },
    async release(key, owner) {
      if (owner === undefined) await query(`DELETE FROM ${NAMESPACE}_claims WHERE key = ?`, key);
      else await query(`DELETE FROM ${NAMESPACE}_claims WHERE key = ? AND owner = ?`, key, owner);
    },
    async renew(key, owner, ttlMs) {
      const now = Date.now();
      const rows = await query(
        `UPDATE ${NAMESPACE}_claims SET expires_at = ? WHERE key = ? AND owner = ? AND (expires_at IS NULL OR expires_at > ?) RETURNING key`,
        now + ttlMs,
        key,
        owner,
        now,
      );
      return rows.length === 1;
    },
    async addToSet(setKey, member) {
      await query(`INSERT INTO ${NAMESPACE}_sets (set_key, member) VALUES (?, ?) ON CONFLICT DO NOTHING`, setKey, member);
    },
    async removeFromSet(setKey, member) {
      await query(`DELETE FROM ${NAMESPACE}_sets WHERE set_key = ? AND member = ?`, setKey, member);
    },
    async members(setKey) {
      const rows = (await query(`SELECT member FROM ${NAMESPACE}_sets WHERE set_key = ?`, setKey)) as { member: string }[];
      return rows.map((row) => row.member);
    },
    purgeExpired,
    async close() {
      await adapter.disconnect();
    },
  };
}
