import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyedLock, LeaseLost, LockTimeout } from '../../src/core/lock.js';
import { systemClock, type Store } from '../../src/core/ports.js';
import { openStore } from '../../src/store/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('KeyedLock (in-process queue + store lease)', () => {
  let a: Store;
  let b: Store;
  beforeAll(async () => {
    const url = `sqlite://${join(mkdtempSync(join(tmpdir(), 'lock-')), 's.sqlite')}`;
    a = await openStore(url);
    b = await openStore(url);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('two "replicas" never hold the same key at once', async () => {
    const one = new KeyedLock(a, systemClock, 2000, 10_000);
    const two = new KeyedLock(b, systemClock, 2000, 10_000);
    let inside = 0;
    let most = 0;
    const work = async () => {
      inside++;
      most = Math.max(most, inside);
      await sleep(5 + Math.random() * 10);
      inside--;
    };
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? one : two).run('appeal:X', work)));
    expect(most).toBe(1);
  });

  it('a holder that works longer than the lease keeps it (renewed), so the other waits', async () => {
    const one = new KeyedLock(a, systemClock, 150, 10_000);
    const two = new KeyedLock(b, systemClock, 150, 10_000);
    const order: string[] = [];
    await Promise.all([
      one.run('appeal:slow', async (lease) => {
        order.push('one in');
        await sleep(600); // four lease lengths
        await lease.check();
        order.push('one out');
      }),
      sleep(50).then(() => two.run('appeal:slow', async () => {
        order.push('two in');
      })),
    ]);
    expect(order).toEqual(['one in', 'one out', 'two in']);
  });

  it('a holder whose lease was lost gets LeaseLost before it writes', async () => {
    const one = new KeyedLock(a, systemClock, 10_000, 1000);
    await expect(one.run('appeal:lost', async (lease) => {
      await a.release('lock:appeal:lost'); // as if it expired and someone else took it
      await b.claim('lock:appeal:lost', 10_000, 'someone-else');
      await lease.check();
      return 'wrote';
    })).rejects.toBeInstanceOf(LeaseLost);
    // the other holder's lease was left alone
    expect(await a.claim('lock:appeal:lost', 10_000, 'third')).toBe(false);
  });

  it('gives up waiting with LockTimeout', async () => {
    await b.claim('lock:appeal:held', 60_000, 'stuck');
    const one = new KeyedLock(a, systemClock, 1000, 200);
    await expect(one.run('appeal:held', async () => 'never')).rejects.toBeInstanceOf(LockTimeout);
  });
});
