/**
 * The Store contract, run against every backend (see sqlite/redis/postgres.test.ts).
 * Keys carry a random per-run prefix so parallel runs and leftovers never interfere.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/core/ports.js';
import { openStore } from '../../src/store/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Long enough for the test, short enough that Redis/PostgreSQL test data expires by itself. */
const RACE_TTL_MS = 10 * 60_000;
const RACERS = 50;
const RACE_ROUNDS = 100;

export function storeContract(name: string, makeUrl: () => string): void {
  describe(`Store contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    const key = (suffix: string): string => `test:${run}:${suffix}`;
    let store: Store;
    let other: Store;

    beforeAll(async () => {
      store = await openStore(makeUrl());
      other = await openStore(makeUrl());
    });
    afterAll(async () => {
      await store?.close();
      await other?.close();
    });

    describe('get/set/delete', () => {
      it('gets undefined for a missing key', async () => {
        expect(await store.get(key('missing'))).toBeUndefined();
      });

      it('round-trips objects, strings, numbers, booleans, null and base64-encoded bytes', async () => {
        const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(1024)]);
        const values: Record<string, unknown> = {
          object: { a: 1, nested: { list: [1, 'two', null, { three: true }], empty: {} }, text: 'héllo ✓ 🙂', colon: ':x' },
          string: 'plain string',
          colonString: ':base64:not-really',
          emptyString: '',
          number: 42.5,
          zero: 0,
          negative: -7,
          boolean: false,
          nullValue: null,
          array: ['a', 1, false],
          bytes: bytes.toString('base64'),
        };
        for (const [suffix, value] of Object.entries(values)) await store.set(key(`rt:${suffix}`), value);
        for (const [suffix, value] of Object.entries(values)) {
          expect(await store.get(key(`rt:${suffix}`)), suffix).toEqual(value);
          expect(await other.get(key(`rt:${suffix}`)), `${suffix} via another instance`).toEqual(value);
        }
        const decoded = Buffer.from((await store.get<string>(key('rt:bytes'))) ?? '', 'base64');
        expect(decoded.equals(bytes)).toBe(true);
      });

      it('overwrites', async () => {
        await store.set(key('ow'), { v: 1 });
        await other.set(key('ow'), { v: 2 });
        expect(await store.get(key('ow'))).toEqual({ v: 2 });
        await store.set(key('ow'), 'now a string');
        expect(await other.get(key('ow'))).toBe('now a string');
      });

      it('deletes: true when something was deleted, false otherwise', async () => {
        await store.set(key('del'), 'x');
        expect(await other.delete(key('del'))).toBe(true);
        expect(await store.get(key('del'))).toBeUndefined();
        expect(await store.delete(key('del'))).toBe(false);
        expect(await store.delete(key('del-never-set'))).toBe(false);
      });

      it('expires values set with a ttl, and keeps the others', async () => {
        await store.set(key('ttl'), 'short', 200);
        await store.set(key('ttl-none'), 'forever');
        await store.set(key('ttl-cleared'), 'short', 200);
        await store.set(key('ttl-cleared'), 'long'); // a set without ttl replaces the ttl
        expect(await store.get(key('ttl'))).toBe('short');
        expect(await other.get(key('ttl'))).toBe('short');
        await sleep(450);
        expect(await store.get(key('ttl'))).toBeUndefined();
        expect(await other.get(key('ttl'))).toBeUndefined();
        expect(await store.get(key('ttl-none'))).toBe('forever');
        expect(await store.get(key('ttl-cleared'))).toBe('long');
      });

      it('refuses a ttl that is not a positive number', async () => {
        await expect(store.set(key('bad-ttl'), 1, 0)).rejects.toThrow(/ttlMs/);
        await expect(store.set(key('bad-ttl'), 1, -5)).rejects.toThrow(/ttlMs/);
        await expect(store.set(key('bad-ttl'), 1, Number.NaN)).rejects.toThrow(/ttlMs/);
        expect(await store.get(key('bad-ttl'))).toBeUndefined();
      });
    });

    describe('claim', () => {
      it('is won once: first true, then false, from this and another instance', async () => {
        expect(await store.claim(key('c1'))).toBe(true);
        expect(await store.claim(key('c1'))).toBe(false);
        expect(await other.claim(key('c1'))).toBe(false);
        expect(await other.claim(key('c2'))).toBe(true);
        expect(await store.claim(key('c2'))).toBe(false);
      });

      it('without a ttl stays claimed', async () => {
        expect(await store.claim(key('forever'))).toBe(true);
        await sleep(300);
        expect(await other.claim(key('forever'))).toBe(false);
        expect(await other.claim(key('forever'), 100)).toBe(false);
      });

      it('with a ttl can be claimed again after expiry, not before', async () => {
        expect(await store.claim(key('lease'), 300)).toBe(true);
        expect(await store.claim(key('lease'), 300)).toBe(false);
        expect(await other.claim(key('lease'), 300)).toBe(false);
        await sleep(100);
        expect(await other.claim(key('lease'))).toBe(false);
        await sleep(400);
        expect(await other.claim(key('lease'), 300)).toBe(true);
        expect(await store.claim(key('lease'), 300)).toBe(false);
        // An expired lease re-claimed without a ttl is then claimed forever.
        await sleep(450);
        expect(await store.claim(key('lease'))).toBe(true);
        await sleep(400);
        expect(await other.claim(key('lease'), 300)).toBe(false);
      });

      it('can be released and claimed again; releasing an unclaimed key is fine', async () => {
        expect(await store.claim(key('rel'), 60_000)).toBe(true);
        await other.release(key('rel'));
        expect(await other.claim(key('rel'), 60_000)).toBe(true);
        expect(await store.claim(key('rel'))).toBe(false);
        await expect(store.release(key('rel-never'))).resolves.toBeUndefined();
      });

      it('renew extends a claim only for its owner, and fails once it is lost', async () => {
        expect(await store.claim(key('renew'), 300, 'holder')).toBe(true);
        expect(await other.renew(key('renew'), 'intruder', 60_000)).toBe(false);
        await sleep(200);
        expect(await other.renew(key('renew'), 'holder', 600)).toBe(true);
        await sleep(200); // past the original 300 ms, within the renewed 600 ms
        expect(await other.claim(key('renew'), 60_000, 'intruder')).toBe(false);
        await sleep(500); // the renewed lease expires
        expect(await store.renew(key('renew'), 'holder', 60_000)).toBe(false);
        expect(await other.claim(key('renew'), 60_000, 'intruder')).toBe(true);
        expect(await store.renew(key('renew'), 'holder', 60_000)).toBe(false);
        await store.release(key('renew'), 'holder');
        expect(await store.claim(key('renew'), 60_000, 'third')).toBe(false);
      });

      it('a release naming an owner frees only that owner\'s claim', async () => {
        expect(await store.claim(key('owned'), 60_000, 'holder-a')).toBe(true);
        await other.release(key('owned'), 'holder-b'); // not the holder: nothing happens
        expect(await other.claim(key('owned'), 60_000, 'holder-b')).toBe(false);
        await other.release(key('owned'), 'holder-a');
        expect(await other.claim(key('owned'), 60_000, 'holder-b')).toBe(true);
        // an expired lease taken over by someone else is not released by its old holder
        expect(await store.claim(key('taken'), 200, 'old')).toBe(true);
        await sleep(300);
        expect(await other.claim(key('taken'), 60_000, 'new')).toBe(true);
        await store.release(key('taken'), 'old');
        expect(await store.claim(key('taken'), 60_000, 'third')).toBe(false);
      });

      it('refuses a ttl that is not a positive number', async () => {
        await expect(store.claim(key('bad-claim-ttl'), 0)).rejects.toThrow(/ttlMs/);
        await expect(store.claim(key('bad-claim-ttl'), Number.POSITIVE_INFINITY)).rejects.toThrow(/ttlMs/);
        expect(await store.claim(key('bad-claim-ttl'))).toBe(true);
      });

      it('lives apart from values and sets with the same key', async () => {
        await store.set(key('shared'), 'value');
        await store.addToSet(key('shared'), 'member');
        expect(await store.claim(key('shared'))).toBe(true);
        expect(await store.get(key('shared'))).toBe('value');
        expect(await store.members(key('shared'))).toEqual(['member']);
        expect(await store.delete(key('shared'))).toBe(true);
        expect(await store.claim(key('shared'))).toBe(false);
        expect(await store.members(key('shared'))).toEqual(['member']);
      });
    });

    describe('sets', () => {
      it('adds (idempotently), removes and lists members, across instances', async () => {
        const set = key('set');
        expect(await store.members(set)).toEqual([]);
        await store.addToSet(set, 'a');
        await store.addToSet(set, 'b');
        await other.addToSet(set, 'a');
        await other.addToSet(set, 'c:with:colons');
        expect((await store.members(set)).sort()).toEqual(['a', 'b', 'c:with:colons']);
        await other.removeFromSet(set, 'a');
        await store.removeFromSet(set, 'a');
        await store.removeFromSet(set, 'never-there');
        expect((await other.members(set)).sort()).toEqual(['b', 'c:with:colons']);
        expect(await store.members(key('set-other'))).toEqual([]);
      });
    });

    describe('lifecycle', () => {
      it('closing one instance leaves the others on the same URL working; a closed one rejects', async () => {
        const a = await openStore(makeUrl());
        const b = await openStore(makeUrl());
        await a.set(key('life'), 1);
        await a.close();
        await a.close(); // idempotent
        expect(await b.get(key('life'))).toBe(1);
        expect(await b.claim(key('life'))).toBe(true);
        const c = await openStore(makeUrl());
        expect(await c.get(key('life'))).toBe(1);
        await expect(a.get(key('life'))).rejects.toThrow(/closed/);
        await expect(a.claim(key('life-2'))).rejects.toThrow(/closed/);
        await b.close();
        await c.close();
      });
    });

    describe(`${RACERS} separate instances on one URL`, () => {
      let racers: Store[] = [];

      beforeAll(async () => {
        const started = Date.now();
        racers = await Promise.all(Array.from({ length: RACERS }, async () => openStore(makeUrl())));
        console.info(`[${name}] opened ${RACERS} stores concurrently in ${Date.now() - started} ms`);
      }, 60_000);
      afterAll(async () => {
        await Promise.all(racers.map(async (racer) => racer.close()));
      }, 60_000);

      it(`claim: exactly one of ${RACERS} concurrent claims wins, ${RACE_ROUNDS} times over`, async () => {
        const started = Date.now();
        for (let round = 0; round < RACE_ROUNDS; round += 1) {
          const results = await Promise.all(racers.map(async (racer) => racer.claim(key(`race:${round}`), RACE_TTL_MS)));
          expect(results.filter(Boolean), `round ${round}`).toHaveLength(1);
        }
        console.info(`[${name}] ${RACE_ROUNDS} rounds of ${RACERS} concurrent claims in ${Date.now() - started} ms`);
      }, 180_000);

      it('claim: exactly one wins the race for an expired claim', async () => {
        const rounds = 10;
        for (let round = 0; round < rounds; round += 1) {
          expect(await racers[0]!.claim(key(`race-expired:${round}`), 50)).toBe(true);
        }
        await sleep(150);
        for (let round = 0; round < rounds; round += 1) {
          const results = await Promise.all(racers.map(async (racer) => racer.claim(key(`race-expired:${round}`), RACE_TTL_MS)));
          expect(results.filter(Boolean), `round ${round}`).toHaveLength(1);
        }
      }, 60_000);

      it('delete: exactly one of the concurrent deletes of a key reports true', async () => {
        await racers[0]!.set(key('race-delete'), 'x');
        const results = await Promise.all(racers.map(async (racer) => racer.delete(key('race-delete'))));
        expect(results.filter(Boolean)).toHaveLength(1);
      }, 60_000);

      it('addToSet: concurrent adds from every instance all land', async () => {
        const set = key('race-set');
        await Promise.all(racers.map(async (racer, i) => racer.addToSet(set, `m${i}`)));
        await Promise.all(racers.map(async (racer) => racer.addToSet(set, 'common')));
        const members = await racers[0]!.members(set);
        expect(members).toHaveLength(RACERS + 1);
        expect(new Set(members)).toEqual(new Set([...racers.map((_, i) => `m${i}`), 'common']));
      }, 60_000);
    });
  });
}
