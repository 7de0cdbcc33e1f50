import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateAppealId, ID_ALPHABET, isAppealId, parseAppealId, randomAppealId, showId } from '../../src/core/ids.js';

describe('appeal ids', () => {
  it('are 4-8 characters from an alphabet without look-alikes', () => {
    for (const ch of '01ILO') expect(ID_ALPHABET).not.toContain(ch);
    for (let i = 0; i < 500; i++) {
      const id = randomAppealId();
      expect(id).toMatch(/^[2-9A-HJKMNP-Z]{4}$/);
      expect(isAppealId(id)).toBe(true);
    }
    expect(() => randomAppealId(3)).toThrow();
    expect(() => randomAppealId(9)).toThrow();
  });

  it('are read back however a person types them', () => {
    fc.assert(fc.property(fc.integer({ min: 4, max: 8 }), (n) => {
      const id = randomAppealId(n);
      expect(parseAppealId(`#${id.toLowerCase()}`)).toBe(id);
      expect(parseAppealId(` ${id} `)).toBe(id);
    }));
    expect(parseAppealId('7K3O')).toBeUndefined(); // O is not in the alphabet
    expect(parseAppealId('#ABC')).toBeUndefined();
    expect(showId('7K3Q')).toBe('#7K3Q');
  });

  it('allocation retries collisions and grows longer when short ids run out', async () => {
    const taken = new Set<string>();
    let calls = 0;
    const id = await allocateAppealId(async (candidate) => {
      calls++;
      if (candidate.length < 6) return false; // every 4- and 5-character id is "taken"
      if (taken.has(candidate)) return false;
      taken.add(candidate);
      return true;
    });
    expect(id).toHaveLength(6);
    expect(calls).toBe(17);
  });
});
