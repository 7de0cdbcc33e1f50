import Keyv from 'keyv';
import KeyvRedis, { createClient, type RedisClientConnectionType } from '@keyv/redis';
import type { Logger } from '../core/ports.js';
import { NAMESPACE, type Backend } from './backend.js';
import { describeError, type ErrorFactory } from './errors.js';

const CONNECT_TIMEOUT_MS = 5_000;
const COMMAND_TIMEOUT_MS = 10_000;
/** After a connection that worked drops, this many reconnection attempts (≈18 s) before giving up until the next call. */
const MAX_RECONNECT_ATTEMPTS = 10;
const MAX_RECONNECT_DELAY_MS = 3_000;

const CLAIM_PREFIX = `${NAMESPACE}:claim:`;
const RENEW_IF_OWNER = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE_IF_OWNER = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const SET_PREFIX = `${NAMESPACE}:set:`;
/** keyv values live at `loudhailer:kv:<key>` (the adapter joins namespace and key with this). */
const KV_SEPARATOR = ':kv:';

/**
 * Redis (node-redis v5, through @keyv/redis for get/set/delete).
 *
 * - The offline queue is disabled, so while the connection is down every command rejects at once
 *   (the default would queue it and hang the caller until Redis comes back).
 * - A fresh connection attempt fails on its first error (so openStore rejects promptly); a
 *   connection that worked and then dropped is retried with backoff a bounded number of times,
 *   after which the client closes and the next call makes a fresh attempt.
 */
export async function openRedis(url: string, errors: ErrorFactory, logger: Logger | undefined): Promise<Backend> {
  let freshAttempt = true;
  let closing = false;

  const client = createClient({
    url,
    disableOfflineQueue: true,
    // A server that accepts the connection but never answers must not hang callers.
    commandOptions: { timeout: COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number, cause: Error) => {
        if (closing) return false;
        if (freshAttempt) return new Error(`could not connect to Redis: ${describeError(cause)}`);
        if (retries >= MAX_RECONNECT_ATTEMPTS) {
          return new Error(`gave up reconnecting to Redis after ${retries} attempts: ${describeError(cause)}`);
        }
        return Math.min(100 * 2 ** retries, MAX_RECONNECT_DELAY_MS);
      },
    },
  });
  // Without an 'error' listener a node-redis error would crash the process. The calls that
  // were affected reject on their own; this is only the record of it.
  client.on('error', (error: unknown) => {
    logger?.warn({ err: errors.scrub(describeError(error)), store: errors.shownUrl }, 'Redis client error');
  });
  client.on('ready', () => {
    freshAttempt = false;
  });

  let connecting: Promise<void> | undefined;
  const ensureReady = async (): Promise<void> => {
    if (closing || client.isOpen) return; // open but reconnecting: commands fail fast (no offline queue)
    connecting ??= (async () => {
      freshAttempt = true;
      // connectTimeout covers the TCP connect only; this also covers a server that accepts
      // the connection but never answers the handshake.
      const attempt = client.connect();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          attempt,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer from Redis within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
          }),
        ]);
      } catch (error) {
        attempt.catch(() => undefined);
        if (client.isOpen && !client.isReady) client.destroy();
        throw error;
      } finally {
        clearTimeout(timer);
        connecting = undefined;
      }
    })();
    await connecting;
  };

  try {
    await ensureReady();
  } catch (error) {
    if (client.isOpen) client.destroy();
    throw errors.wrap('open', error, `connecting to the Redis store ${errors.shownUrl}`);
  }

  const adapter = new KeyvRedis(client as unknown as RedisClientConnectionType, {
    keyPrefixSeparator: KV_SEPARATOR,
    throwOnErrors: true,
    throwOnConnectError: true,
    connectionTimeout: CONNECT_TIMEOUT_MS,
  });
  const keyv = new Keyv({ store: adapter, namespace: NAMESPACE, useKeyPrefix: false, throwOnErrors: true });
  keyv.on('error', () => {
    // keyv re-emits both what it throws and the client's errors (logged above).
  });

  return {
    name: 'redis',
    keyv,
    ensureReady,
    async claim(key, ttlMs, owner) {
      const reply = await client.set(
        CLAIM_PREFIX + key,
        owner,
        ttlMs === undefined ? { condition: 'NX' } : { condition: 'NX', expiration: { type: 'PX', value: ttlMs } },
      );
      return reply === 'OK';
    },
    async release(key, owner) {
      if (owner === undefined) {
        await client.del(CLAIM_PREFIX + key);
        return;
      }
      // Compare-and-delete in one step: only the holder may release.
      await client.eval(RELEASE_IF_OWNER, { keys: [CLAIM_PREFIX + key], arguments: [owner] });
    },
    async renew(key, owner, ttlMs) {
      const renewed = await client.eval(RENEW_IF_OWNER, { keys: [CLAIM_PREFIX + key], arguments: [owner, String(ttlMs)] });
      return renewed === 1;
    },
    async addToSet(setKey, member) {
      await client.sAdd(SET_PREFIX + setKey, member);
    },
    async removeFromSet(setKey, member) {
      await client.sRem(SET_PREFIX + setKey, member);
    },
    async members(setKey) {
      return client.sMembers(SET_PREFIX + setKey);
    },
    async close() {
      closing = true;
      await connecting?.catch(() => undefined);
      if (client.isOpen) await client.close();
    },
  };
}
