import Keyv from 'keyv';
import KeyvPostgres, { type KeyvPostgresOptions } from '@keyv/postgres';
import pg from 'pg';
import type { Logger } from '../core/ports.js';
import { NAMESPACE, type Backend } from './backend.js';
import { describeError, type ErrorFactory } from './errors.js';

const SCHEMA = 'public';
const KV_TABLE = `${NAMESPACE}_kv`;
const CLAIMS = `${SCHEMA}.${NAMESPACE}_claims`;
const SETS = `${SCHEMA}.${NAMESPACE}_sets`;
const KV = `${SCHEMA}.${KV_TABLE}`;
/** pg_advisory_xact_lock key serialising schema creation across replicas ("loud"). */
const SCHEMA_LOCK = 0x6c6f7564;
const KV_PURGE_GRACE_MS = 60_000;

type OwnedPoolOptions = KeyvPostgresOptions & { ownedPool: pg.Pool };

/**
 * @keyv/postgres keeps ONE module-global pg.Pool per URI and its disconnect() ends that global
 * pool, so closing one store would break every other store on the same URL. This subclass runs
 * on a pool owned by the instance instead. The pool travels in the constructor options because
 * the base constructor calls connect() before any subclass field could be initialised.
 */
class OwnedPoolKeyvPostgres extends KeyvPostgres {
  private get ownedPool(): pg.Pool {
    return (this.opts as OwnedPoolOptions).ownedPool;
  }

  override async connect(): Promise<(sql: string, values?: unknown) => Promise<unknown[]>> {
    const pool = this.ownedPool;
    return async (sql, values) => (await pool.query(sql, values as unknown[] | undefined)).rows as unknown[];
  }

  override async disconnect(): Promise<void> {
    await this.ownedPool.end();
  }

  /** One atomic statement (the base selects, then deletes): exactly one concurrent delete reports true. */
  override async delete(key: string): Promise<boolean> {
    const rows = await this.query(`DELETE FROM ${KV} WHERE key = $1 RETURNING key`, [key]);
    return rows.length > 0;
  }
}

async function createSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Concurrent CREATE TABLE IF NOT EXISTS can fail with a unique violation on pg_type:
    // replicas starting together take turns.
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    // Created before the keyv adapter (whose own CREATE TABLE then does nothing) so keys are TEXT, not VARCHAR(255).
    await client.query(`CREATE TABLE IF NOT EXISTS ${KV} (key TEXT PRIMARY KEY, value TEXT)`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${CLAIMS} (key TEXT PRIMARY KEY, expires_at TIMESTAMPTZ NULL, owner TEXT NOT NULL DEFAULT '1')`);
    await client.query(`ALTER TABLE ${CLAIMS} ADD COLUMN IF NOT EXISTS owner TEXT NOT NULL DEFAULT '1'`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${SETS} (set_key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (set_key, member))`,
    );
    await client.query('COMMIT');
    client.release();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(true);
    throw error;
  }
}

export async function openPostgres(url: string, errors: ErrorFactory, logger: Logger | undefined): Promise<Backend> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 10_000,
    // A server that accepts connections but stops answering must not hang callers forever.
    query_timeout: 15_000,
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, it would crash the process.
  pool.on('error', (error) => {
    logger?.warn({ err: errors.scrub(describeError(error)), store: errors.shownUrl }, 'PostgreSQL pool error');
  });

  const purgeExpired = async (): Promise<void> => {
    await pool.query(`DELETE FROM ${CLAIMS} WHERE expires_at IS NOT NULL AND expires_at <= clock_timestamp()`);
    // keyv stores {"value":…,"expires":<epoch ms>}; rows it would report as missing anyway.
    await pool.query(
      `DELETE FROM ${KV} WHERE value LIKE '{%"expires":%}' AND substring(value from '"expires":([0-9]{1,15})[}]$')::bigint < $1`,
      [Date.now() - KV_PURGE_GRACE_MS],
    );
  };

  let adapter: OwnedPoolKeyvPostgres | undefined;
  try {
    await createSchema(pool);
    await purgeExpired();
    const options: OwnedPoolOptions = { uri: url, schema: SCHEMA, table: KV_TABLE, ownedPool: pool };
    adapter = new OwnedPoolKeyvPostgres(options);
    // The base constructor reports a failing CREATE TABLE only as an 'error' event (then carries
    // on); queries still reject with the real error. Listen so the event is never unhandled.
    adapter.on('error', () => undefined);
    await adapter.query('SELECT 1'); // waits for the adapter's own setup
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw errors.wrap('open', error, `connecting to the PostgreSQL store ${errors.shownUrl}`);
  }

  const keyv = new Keyv({ store: adapter, namespace: NAMESPACE, throwOnErrors: true });
  keyv.on('error', () => {
    // keyv re-emits what it also throws (throwOnErrors): the caller gets the error.
  });

  return {
    name: 'postgres',
    keyv,
    async claim(key, ttlMs, owner) {
      const result = await pool.query(
        `INSERT INTO ${CLAIMS} AS c (key, expires_at, owner)
         VALUES ($1, clock_timestamp() + $2::bigint * interval '1 millisecond', $3)
         ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at, owner = EXCLUDED.owner
         WHERE c.expires_at IS NOT NULL AND c.expires_at <= clock_timestamp()
         RETURNING key`,
        [key, ttlMs ?? null, owner],
      );
      return result.rowCount === 1;
    },
    async release(key, owner) {
      if (owner === undefined) await pool.query(`DELETE FROM ${CLAIMS} WHERE key = $1`, [key]);
      else await pool.query(`DELETE FROM ${CLAIMS} WHERE key = $1 AND owner = $2`, [key, owner]);
    },
    async renew(key, owner, ttlMs) {
      const result = await pool.query(
        `UPDATE ${CLAIMS} SET expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond'
         WHERE key = $1 AND owner = $2 AND (expires_at IS NULL OR expires_at > clock_timestamp())
         RETURNING key`,
        [key, owner, ttlMs],
      );
      return result.rowCount === 1;
    },
    async addToSet(setKey, member) {
      await pool.query(`INSERT INTO ${SETS} (set_key, member) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [setKey, member]);
    },
    async removeFromSet(setKey, member) {
      await pool.query(`DELETE FROM ${SETS} WHERE set_key = $1 AND member = $2`, [setKey, member]);
    },
    async members(setKey) {
      const result = await pool.query<{ member: string }>(`SELECT member FROM ${SETS} WHERE set_key = $1`, [setKey]);
      return result.rows.map((row) => row.member);
    },
    purgeExpired,
    async close() {
      await keyv.disconnect(); // ends the pool this instance owns, nothing else
    },
  };
}
