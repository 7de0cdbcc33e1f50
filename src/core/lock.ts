/**
 * Per-appeal mutual exclusion, within this process and across replicas: an in-process
 * queue per key, plus a lease in the store (an atomic `claim` with a time-to-live) so two
 * replicas never read-modify-write the same appeal at once. A lease that outlives a
 * crashed holder expires by itself.
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

export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly leaseMs = 60_000,
    private readonly waitMs = 30_000,
  ) {}

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
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

  private async withLease<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const leaseKey = `lock:${key}`;
    const owner = randomUUID();
    const deadline = this.clock.now() + this.waitMs;
    let pause = 20;
    while (!(await this.store.claim(leaseKey, this.leaseMs, owner))) {
      if (this.clock.now() > deadline) throw new LockTimeout(key);
      await new Promise((r) => setTimeout(r, pause + Math.random() * pause));
      pause = Math.min(pause * 2, 500);
    }
    try {
      return await fn();
    } finally {
      await this.store.release(leaseKey, owner);
    }
  }
}
