import type Keyv from 'keyv';
import type { Logger, Store } from '../core/ports.js';
import type { BackendName, ErrorFactory } from './errors.js';

/** The namespace keyv prefixes our keys with, and the prefix of our own raw keys/tables. */
export const NAMESPACE = 'loudhailer';

/** Expired claim (and keyv) rows are purged once every this many claims, in the background. */
const PURGE_EVERY = 1000;

/**
 * What each backend provides. get/set/delete go through `keyv`; claims and sets use the
 * backend's own atomic operations, outside keyv (which has no set-if-absent).
 */
export interface Backend {
  readonly name: BackendName;
  readonly keyv: Keyv;
  /** Called before every operation: e.g. re-open a Redis connection that gave up reconnecting. */
  ensureReady?(): Promise<void>;
  claim(key: string, ttlMs: number | undefined, owner: string): Promise<boolean>;
  /** Deletes the claim; with `owner`, only if it is the one holding it. */
  release(key: string, owner: string | undefined): Promise<void>;
  /** Extends an unexpired claim held by `owner`; false when it isn't theirs any more. */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  addToSet(setKey: string, member: string): Promise<void>;
  removeFromSet(setKey: string, member: string): Promise<void>;
  members(setKey: string): Promise<string[]>;
  /** Deletes expired rows; never changes what any read or claim observes. */
  purgeExpired?(): Promise<void>;
  close(): Promise<void>;
}

function checkTtl(ttlMs: number | undefined, errors: ErrorFactory, operation: string): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw errors.make(operation, `Store ${operation}: ttlMs must be a positive number of milliseconds, got ${String(ttlMs)}`);
  }
  return Math.max(1, Math.ceil(ttlMs));
}

/** The Store every backend is exposed as: errors wrapped (never swallowed), closing idempotent. */
export class BackendStore implements Store {
  private closed = false;
  private closing: Promise<void> | undefined;
  private claimsSincePurge = 0;
  private purging: Promise<void> | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly errors: ErrorFactory,
    private readonly logger: Logger | undefined,
  ) {}

  private async run<R>(operation: string, fn: () => Promise<R>): Promise<R> {
    if (this.closed) throw this.errors.make(operation, `Store ${operation} failed: the ${this.backend.name} store ${this.errors.shownUrl} is closed`);
    try {
      await this.backend.ensureReady?.();
      return await fn();
    } catch (error) {
      throw this.errors.wrap(operation, error);
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    return this.run('get', async () => {
      const value: unknown = await this.backend.keyv.get(key);
      return value as T | undefined;
    });
  }

  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    const ttl = checkTtl(ttlMs, this.errors, 'set');
    return this.run('set', async () => {
      const ok = await this.backend.keyv.set(key, value, ttl);
      if (!ok) throw new Error('the keyv adapter reported that the value was not stored');
    });
  }

  async delete(key: string): Promise<boolean> {
    return this.run('delete', async () => this.backend.keyv.delete(key));
  }

  async claim(key: string, ttlMs?: number, owner = '1'): Promise<boolean> {
    const ttl = checkTtl(ttlMs, this.errors, 'claim');
    const won = await this.run('claim', async () => this.backend.claim(key, ttl, owner));
    this.maybePurge();
    return won;
  }

  async release(key: string, owner?: string): Promise<void> {
    return this.run('release', async () => this.backend.release(key, owner));
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs, this.errors, 'renew')!;
    return this.run('renew', async () => this.backend.renew(key, owner, ttl));
  }

  async addToSet(setKey: string, member: string): Promise<void> {
    return this.run('addToSet', async () => this.backend.addToSet(setKey, member));
  }

  async removeFromSet(setKey: string, member: string): Promise<void> {
    return this.run('removeFromSet', async () => this.backend.removeFromSet(setKey, member));
  }

  async members(setKey: string): Promise<string[]> {
    return this.run('members', async () => this.backend.members(setKey));
  }

  private maybePurge(): void {
    if (!this.backend.purgeExpired || this.closed) return;
    this.claimsSincePurge += 1;
    if (this.claimsSincePurge < PURGE_EVERY || this.purging) return;
    this.claimsSincePurge = 0;
    this.purging = this.backend
      .purgeExpired()
      .catch((error: unknown) => {
        this.logger?.warn({ err: this.errors.wrap('purge', error).message, store: this.errors.shownUrl }, 'purging expired store rows failed');
      })
      .finally(() => {
        this.purging = undefined;
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      await this.purging;
      try {
        await this.backend.close();
      } catch (error) {
        throw this.errors.wrap('close', error);
      }
    })();
    return this.closing;
  }
}
