/**
 * The Store port (src/core/ports.ts) on SQLite, Redis or PostgreSQL, chosen by STORE_URL.
 *
 * get/set/delete go through keyv (values JSON-serialised by keyv, TTL via keyv); claim and the
 * sets use each backend's own atomic operations. Every failure throws a StoreError whose message
 * never contains the URL's password.
 */
import type { Logger, Store } from '../core/ports.js';
import { BackendStore, type Backend } from './backend.js';
import { ErrorFactory, StoreError, redactUrl, type BackendName } from './errors.js';

export { StoreError, redactUrl };

export interface OpenStoreOptions {
  /** Receives backend warnings that are not tied to a call (e.g. a dropped Redis connection). */
  logger?: Logger;
}

export const ACCEPTED_SCHEMES = 'sqlite://<path>, redis://, rediss://, postgres:// or postgresql://';

function backendFor(url: string): BackendName | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite':
      return 'sqlite';
    case 'redis':
    case 'rediss':
      return 'redis';
    case 'postgres':
    case 'postgresql':
      return 'postgres';
    default:
      return undefined;
  }
}

/**
 * Opens (and, for SQL backends, creates the tables of) the store at `url`. Rejects, with the
 * password redacted, when the backend cannot be reached or the URL is not understood.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const backend = backendFor(url);
  if (!backend) {
    throw new StoreError(
      `STORE_URL ${redactUrl(url) || '(empty)'} has an unsupported scheme: use ${ACCEPTED_SCHEMES}`,
      undefined,
      'open',
    );
  }
  const errors = new ErrorFactory(url, backend);
  const logger = options.logger?.child({ component: 'store', backend });
  // Each backend's driver is loaded only when used: a SQLite deployment never loads pg or redis.
  let opened: Backend;
  switch (backend) {
    case 'sqlite':
      opened = await (await import('./sqlite.js')).openSqlite(url, errors);
      break;
    case 'redis':
      opened = await (await import('./redis.js')).openRedis(url, errors, logger);
      break;
    case 'postgres':
      opened = await (await import('./postgres.js')).openPostgres(url, errors, logger);
      break;
  }
  logger?.debug({ store: errors.shownUrl }, 'store opened');
  return new BackendStore(opened, errors, logger);
}
