/**
 * Appeal ids: short, upper-case, easy to read out on a radio. The alphabet leaves out
 * the look-alikes 0/O, 1/I/L, so "#7K3Q" can't be misheard as "#7K3O".
 */
import { randomInt } from 'node:crypto';

export const ID_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
export const ID_MIN_LENGTH = 4;
export const ID_MAX_LENGTH = 8;

const ID_PATTERN = new RegExp(`^[${ID_ALPHABET}]{${ID_MIN_LENGTH},${ID_MAX_LENGTH}}$`);

export function randomAppealId(length = ID_MIN_LENGTH): string {
  if (length < ID_MIN_LENGTH || length > ID_MAX_LENGTH) throw new RangeError(`appeal ids are ${ID_MIN_LENGTH}-${ID_MAX_LENGTH} characters`);
  let id = '';
  for (let i = 0; i < length; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

export function isAppealId(s: string): boolean {
  return ID_PATTERN.test(s);
}

/**
 * Reads an id as a person types it: "#7k3q", "7K3Q". Returns undefined for anything that
 * is not a well-formed id (the caller says so in plain words).
 */
export function parseAppealId(input: string): string | undefined {
  const s = normalizeAppealId(input);
  return isAppealId(s) ? s : undefined;
}

/** "#7k3q " → "7K3Q", whether or not the result is a valid id (the caller says "no appeal #…"). */
export function normalizeAppealId(input: string): string {
  return input.trim().replace(/^#/, '').toUpperCase();
}

/** Looks like an attempt at an id (so "status XYZ9" is a status query, not a new appeal). */
export function looksLikeId(input: string): boolean {
  return /^#?[A-Za-z0-9]{3,10}$/.test(input.trim());
}

export const showId = (id: string): string => `#${id}`;

/**
 * Allocates a fresh id: `tryClaim` must atomically reserve it (the store's claim).
 * Collisions are retried; after a few, ids grow longer, up to 8 characters.
 */
export async function allocateAppealId(tryClaim: (id: string) => Promise<boolean>): Promise<string> {
  for (let length = ID_MIN_LENGTH; length <= ID_MAX_LENGTH; length++) {
    for (let attempt = 0; attempt < 8; attempt++) {
      const id = randomAppealId(length);
      if (await tryClaim(id)) return id;
    }
  }
  throw new Error('could not allocate an appeal id');
}
