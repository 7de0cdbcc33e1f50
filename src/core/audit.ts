/**
 * The audit trail: every command, reaction (counted or refused, and why), publish, failure,
 * retry, withdrawal and update, appended to one hash-chained log in the store.
 *
 * Entry n carries the hash of entry n−1 (`prev`) and its own hash over all its fields
 * (`entryHash`), and the head (`audit:head`) names the last entry and its hash. Editing a
 * field breaks that entry's hash; deleting or reordering entries breaks the sequence or the
 * chain; cutting entries off the end leaves the head pointing past them. `verifyAudit`
 * reports the first broken entry.
 *
 * Appends are serialised across replicas by a lease in the store (the KeyedLock), so the
 * chain stays one line. A crash between writing an entry and moving the head leaves a valid
 * entry just past the head; the next append adopts it instead of overwriting it.
 */
import { createHash } from 'node:crypto';
import type { KeyedLock } from './lock.js';
import type { Clock, Logger, Store } from './ports.js';

export const AUDIT_ACTIONS = [
  'command',
  'drafted',
  'media_added',
  'media_refused',
  'card',
  'reaction',
  'approved',
  'rejected',
  'published',
  'publish_failed',
  'retry',
  'withdraw',
  'withdrawn',
  'withdraw_failed',
  'update_drafted',
  'update_approved',
  'update_rejected',
  'update_posted',
  'update_failed',
  'audit_export',
  'report',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What a caller records. */
export interface AuditEvent {
  /** The appeal it concerns, if any. */
  appeal?: string;
  /** Who: a chat user id, or "loudhailer" for the bot's own actions. */
  actor: string;
  action: AuditAction;
  /** What happened, in words (the command text, "approve counted", "removed from X"…). */
  detail: string;
  /** The content hash concerned (the approved content, a card's content). */
  hash?: string;
  /** Why (a refusal's reason, a withdrawal's reason, an error). */
  reason?: string;
  /** The network concerned. */
  network?: string;
}

export interface AuditEntry extends AuditEvent {
  /** 1, 2, 3… with no gaps. */
  seq: number;
  /** When (ms since the epoch). */
  at: number;
  /** `entryHash` of the previous entry; 64 zeros for the first. */
  prev: string;
  /** SHA-256 (hex) of the entry's other fields, in a fixed order. */
  entryHash: string;
}

export interface AuditHead {
  seq: number;
  hash: string;
}

export const GENESIS = '0'.repeat(64);

export const auditKeys = {
  head: 'audit:head',
  entry: (seq: number) => `audit:${seq}`,
  /** The sequence numbers of one appeal's entries. */
  appeal: (id: string) => `audit-appeal:${id}`,
};

/** Fields hashed, in order; an absent optional field hashes as null. */
const HASHED = ['seq', 'at', 'appeal', 'actor', 'action', 'network', 'detail', 'hash', 'reason', 'prev'] as const;

export function entryHash(e: Omit<AuditEntry, 'entryHash'>): string {
  const fields = HASHED.map((k) => e[k] ?? null);
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/** The system's own actor name in the trail. */
export const SYSTEM_ACTOR = 'loudhailer';

/** Longest `detail` or `reason` kept (a 3,000-character appeal text is covered by its hash). */
const MAX_TEXT = 1000;

export class AuditLog {
  constructor(
    private readonly deps: { store: Store; clock: Clock; lock: KeyedLock; logger: Logger },
  ) {}

  /** Appends an event; throws when the store fails (the caller decides what that means). */
  async append(event: AuditEvent): Promise<AuditEntry> {
    const { store, clock, lock } = this.deps;
    return lock.run('audit', async (lease) => {
      let head = (await store.get<AuditHead>(auditKeys.head)) ?? { seq: 0, hash: GENESIS };
      // A crash after writing an entry but before moving the head: adopt it if it chains.
      for (;;) {
        const orphan = await store.get<AuditEntry>(auditKeys.entry(head.seq + 1));
        if (!orphan || orphan.prev !== head.hash || entryHash(orphan) !== orphan.entryHash) break;
        head = { seq: orphan.seq, hash: orphan.entryHash };
      }
      const base: Omit<AuditEntry, 'entryHash'> = {
        seq: head.seq + 1,
        at: clock.now(),
        ...(event.appeal !== undefined ? { appeal: event.appeal } : {}),
        actor: event.actor,
        action: event.action,
        ...(event.network !== undefined ? { network: event.network } : {}),
        detail: clip(event.detail),
        ...(event.hash !== undefined ? { hash: event.hash } : {}),
        ...(event.reason !== undefined ? { reason: clip(event.reason) } : {}),
        prev: head.hash,
      };
      const entry: AuditEntry = { ...base, entryHash: entryHash(base) };
      await lease.check();
      await store.set(auditKeys.entry(entry.seq), entry);
      if (entry.appeal !== undefined) await store.addToSet(auditKeys.appeal(entry.appeal), String(entry.seq));
      await lease.check();
      await store.set<AuditHead>(auditKeys.head, { seq: entry.seq, hash: entry.entryHash });
      return entry;
    });
  }

  /**
   * Appends without throwing, for what has already happened (a post is live whether or not
   * the store answers): a failure is logged as an error with the event, so it is not lost.
   */
  async record(event: AuditEvent): Promise<void> {
    try {
      await this.append(event);
    } catch (err) {
      this.deps.logger.error({ err, audit: event }, 'could not append to the audit trail');
    }
  }

  /** One appeal's entries, oldest first. */
  async forAppeal(id: string): Promise<AuditEntry[]> {
    const seqs = (await this.deps.store.members(auditKeys.appeal(id))).map(Number).filter(Number.isInteger).sort((a, b) => a - b);
    const entries = await Promise.all(seqs.map((s) => this.deps.store.get<AuditEntry>(auditKeys.entry(s))));
    return entries.filter((e): e is AuditEntry => e !== undefined && e.appeal === id);
  }

  async head(): Promise<AuditHead> {
    return (await this.deps.store.get<AuditHead>(auditKeys.head)) ?? { seq: 0, hash: GENESIS };
  }
}

function clip(text: string): string {
  const chars = Array.from(text);
  return chars.length > MAX_TEXT ? `${chars.slice(0, MAX_TEXT - 1).join('')}…` : text;
}

// ---------------------------------------------------------------- verification

export type AuditProblem =
  | 'missing'
  | 'wrong_seq'
  | 'hash_mismatch'
  | 'broken_link'
  | 'head_mismatch'
  | 'no_head';

export interface AuditVerdict {
  ok: boolean;
  /** Entries checked and found sound. */
  checked: number;
  /** What the head says. */
  head: AuditHead | undefined;
  /** The first broken entry, when not ok. */
  firstBroken?: { seq: number; problem: AuditProblem; detail: string };
}

/**
 * Checks the whole chain, from entry 1 to the head: each entry is present, has its own
 * sequence number, its hash matches its fields and its `prev` matches the entry before;
 * the head names the last entry's hash. Reads `concurrency` entries at a time.
 */
export async function verifyAudit(store: Store, opts: { concurrency?: number; onProgress?: (checked: number) => void } = {}): Promise<AuditVerdict> {
  const head = await store.get<AuditHead>(auditKeys.head);
  if (!head) {
    const first = await store.get<AuditEntry>(auditKeys.entry(1));
    return first
      ? { ok: false, checked: 0, head, firstBroken: { seq: 1, problem: 'no_head', detail: 'entries exist but the head record is missing' } }
      : { ok: true, checked: 0, head };
  }
  const batch = Math.max(1, opts.concurrency ?? 64);
  let prev = GENESIS;
  for (let start = 1; start <= head.seq; start += batch) {
    const seqs = Array.from({ length: Math.min(batch, head.seq - start + 1) }, (_, i) => start + i);
    const entries = await Promise.all(seqs.map((s) => store.get<AuditEntry>(auditKeys.entry(s))));
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i]!;
      const e = entries[i];
      const broken = (problem: AuditProblem, detail: string): AuditVerdict => ({ ok: false, checked: seq - 1, head, firstBroken: { seq, problem, detail } });
      if (!e) return broken('missing', `entry ${seq} is missing (deleted, or the log was cut short of its head at ${head.seq})`);
      if (e.seq !== seq) return broken('wrong_seq', `entry ${seq} says it is entry ${e.seq} (entries moved or reordered)`);
      if (entryHash(e) !== e.entryHash) return broken('hash_mismatch', `entry ${seq}'s fields don't match its hash (edited after it was written)`);
      if (e.prev !== prev) return broken('broken_link', `entry ${seq} doesn't follow entry ${seq - 1} (an entry before it was changed, removed or replaced)`);
      prev = e.entryHash;
    }
    opts.onProgress?.(Math.min(head.seq, start + batch - 1));
  }
  if (head.hash !== prev) {
    return { ok: false, checked: head.seq, head, firstBroken: { seq: head.seq, problem: 'head_mismatch', detail: `the head's hash doesn't match entry ${head.seq} (the last entries were replaced)` } };
  }
  return { ok: true, checked: head.seq, head };
}

// ---------------------------------------------------------------- export

const CSV_COLUMNS = ['seq', 'at', 'appeal', 'actor', 'action', 'network', 'detail', 'hash', 'reason', 'prev', 'entryHash'] as const;

/** JSON Lines: one entry per line, exactly as stored (hashes can be checked from it). */
export function toJsonLines(entries: readonly AuditEntry[]): string {
  return entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length > 0 ? '\n' : '');
}

/** CSV (RFC 4180), times as ISO 8601 UTC; cells that a spreadsheet would run as a formula are quoted with a leading apostrophe. */
export function toCsv(entries: readonly AuditEntry[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of entries) {
    lines.push(
      CSV_COLUMNS.map((c) => {
        const v = c === 'at' ? new Date(e.at).toISOString() : e[c];
        return csvCell(v === undefined ? '' : String(v));
      }).join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
