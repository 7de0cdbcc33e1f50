/**
 * Per-appeal mutual exclusion, within this process and across replicas: an in-process
 * queue per key, plus a lease in the store (an atomic `claim` with a time-to-live and an
 * owner) so two replicas never read-modify-write the same appeal at once.
 *
 * The holder renews the lease while it works (a slow Slack call or a rate-limit wait must
 * not let it lapse), and checks it is still held right before each write: a holder that
 * lost its lease (a stalled process) gets LeaseLost instead of overwriting newer state.
 * A lease whose holder crashed expires by itself.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, Store } from './ports.js';

export class LockTimeout extends Error {
  readonly code = 'lock_timeout';
  constructor(readonly key: string) {
    super(`timed out waiting for ${key}`);
    this.name = 'LockTimeout';
  }
}

export class LeaseLost extends Error {
  readonly code = 'lease_lost';
  constructor(readonly key: string) {
    super(`lost the lease on ${key}: another holder may have written since`);
    this.name = 'LeaseLost';
  }
}

export interface Lease {
  /** Renews the lease now; throws LeaseLost if it is no longer ours. Call before every write. */
  check(): Promise<void>;
}

export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly leaseMs = 30_000,
    private readonly waitMs = 30_000,
  ) {}

  async run<T>(key: string, fn: (lease: Lease) => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.withLease(key, fn));
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  private async withLease<T>(key: string, fn: (lease: Lease) => Promise<T>): Promise<T> {
    const leaseKey = `lock:${key}`;
    const owner = randomUUID();
    const deadline = this.clock.now() + this.waitMs;
    let pause = 20;
    while (!(await this.store.claim(leaseKey, this.leaseMs, owner))) {
      if (this.clock.now() > deadline) throw new LockTimeout(key);
      await new Promise((r) => setTimeout(r, pause + Math.random() * pause));
      pause = Math.min(pause * 2, 500);
    }

    let lost = false;
    const renew = async () => {
      if (lost) return false;
      if (!(await this.store.renew(leaseKey, owner, this.leaseMs))) lost = true;
      return !lost;
    };
    const heartbeat = setInterval(() => {
      renew().catch(() => undefined); // a store hiccup here is caught by the next check()
    }, Math.max(10, Math.floor(this.leaseMs / 3)));
    heartbeat.unref();
    const lease: Lease = {
      check: async () => {
        if (!(await renew())) throw new LeaseLost(key);
      },
    };
    try {
      return await fn(lease);
    } finally {
      clearInterval(heartbeat);
      if (!lost) await this.store.release(leaseKey, owner);
    }
  }
}

/** A lease held outside KeyedLock: renewed in the background until released. */
export interface HeldLease {
  /** False once the lease was found taken by someone else (this holder stalled). */
  readonly held: boolean;
  release(): Promise<void>;
}

/**
 * Takes `key` as a lease for `leaseMs` (renewed every third of it) if nobody holds it;
 * undefined when someone does. A holder that dies lets it expire by itself.
 */
export async function tryLease(store: Store, key: string, leaseMs: number): Promise<HeldLease | undefined> {
  const owner = randomUUID();
  if (!(await store.claim(key, leaseMs, owner))) return undefined;
  let held = true;
  let renewedAt = Date.now();
  const heartbeat = setInterval(() => {
    const sentAt = Date.now(); // the store's lease runs from about now, not from its answer
    store.renew(key, owner, leaseMs).then(
      (ok) => {
        if (ok) renewedAt = sentAt;
        else held = false;
      },
      () => {
        // The store didn't answer: once a whole lease has passed without a renewal, it may
        // have expired there and been taken, so it counts as lost.
        if (Date.now() - renewedAt >= leaseMs) held = false;
      },
    );
  }, Math.max(10, Math.floor(leaseMs / 3)));
  heartbeat.unref();
  return {
    get held() {
      if (held && Date.now() - renewedAt >= leaseMs) held = false;
      return held;
    },
    release: async () => {
      clearInterval(heartbeat);
      if (held) await store.release(key, owner);
    },
  };
}
