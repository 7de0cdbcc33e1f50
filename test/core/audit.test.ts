import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, auditKeys, entryHash, GENESIS, toCsv, toJsonLines, verifyAudit, type AuditEntry, type AuditHead } from '../../src/core/audit.js';
import { KeyedLock } from '../../src/core/lock.js';
import { systemClock, type Logger, type Store } from '../../src/core/ports.js';
import { auditVerify } from '../../src/cli/audit-verify.js';
import { openStore } from '../../src/store/index.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

describe('the audit trail', () => {
  let store: Store;
  let log: AuditLog;

  beforeEach(async () => {
    store = await openStore('sqlite://:memory:');
    log = new AuditLog({ store, clock: systemClock, lock: new KeyedLock(store, systemClock), logger: silent });
  });
  afterEach(async () => {
    await store.close();
  });

  async function fill(n: number): Promise<void> {
    for (let i = 1; i <= n; i++) {
      await log.append({ appeal: i % 2 ? 'AAAA' : 'BBBB', actor: `U${i}`, action: 'command', detail: `/appeal status ${i}`, ...(i % 3 ? {} : { reason: 'because' }) });
    }
  }
  const entry = async (seq: number) => (await store.get<AuditEntry>(auditKeys.entry(seq)))!;

  it('chains each entry to the one before, and an untouched log verifies', async () => {
    await fill(6);
    const first = await entry(1);
    expect(first.prev).toBe(GENESIS);
    for (let s = 2; s <= 6; s++) expect((await entry(s)).prev).toBe((await entry(s - 1)).entryHash);
    expect(await store.get<AuditHead>(auditKeys.head)).toEqual({ seq: 6, hash: (await entry(6)).entryHash });
    expect(await verifyAudit(store)).toMatchObject({ ok: true, checked: 6 });
    expect((await log.forAppeal('AAAA')).map((e) => e.seq)).toEqual([1, 3, 5]);
  });

  it('concurrent appends (two writers on one store) keep one unbroken line', async () => {
    const other = new AuditLog({ store, clock: systemClock, lock: new KeyedLock(store, systemClock), logger: silent });
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? log : other).append({ actor: 'U', action: 'command', detail: `n${i}` })));
    const v = await verifyAudit(store);
    expect(v).toMatchObject({ ok: true, checked: 40 });
    const details = new Set<string>();
    for (let s = 1; s <= 40; s++) details.add((await entry(s)).detail);
    expect(details.size).toBe(40);
  });

  it('detects an edited field, even one the editor re-hashed', async () => {
    await fill(5);
    const e3 = await entry(3);
    await store.set(auditKeys.entry(3), { ...e3, actor: 'UOTHER' });
    expect(await verifyAudit(store)).toMatchObject({ ok: false, checked: 2, firstBroken: { seq: 3, problem: 'hash_mismatch' } });
    // Re-hashing the edited entry moves the break to the next one.
    const forged = { ...e3, reason: 'nobody asked' };
    await store.set(auditKeys.entry(3), { ...forged, entryHash: entryHash(forged) });
    expect(await verifyAudit(store)).toMatchObject({ ok: false, firstBroken: { seq: 4, problem: 'broken_link' } });
  });

  it('detects a deleted entry', async () => {
    await fill(5);
    await store.delete(auditKeys.entry(2));
    expect(await verifyAudit(store)).toMatchObject({ ok: false, checked: 1, firstBroken: { seq: 2, problem: 'missing' } });
  });

  it('detects reordered entries', async () => {
    await fill(5);
    const [a, b] = [await entry(2), await entry(4)];
    await store.set(auditKeys.entry(2), b);
    await store.set(auditKeys.entry(4), a);
    expect(await verifyAudit(store)).toMatchObject({ ok: false, firstBroken: { seq: 2, problem: 'wrong_seq' } });
    // Renumbered to hide the move: the hash or the chain gives it away.
    await store.set(auditKeys.entry(2), { ...b, seq: 2 });
    expect(await verifyAudit(store)).toMatchObject({ ok: false, firstBroken: { seq: 2, problem: 'hash_mismatch' } });
  });

  it('detects a log cut short: entries gone from the end, or the end replaced', async () => {
    await fill(5);
    await store.delete(auditKeys.entry(5));
    await store.delete(auditKeys.entry(4));
    expect(await verifyAudit(store)).toMatchObject({ ok: false, checked: 3, firstBroken: { seq: 4, problem: 'missing' } });
    // Head moved back too, but left naming the old last hash.
    await store.set(auditKeys.head, { seq: 3, hash: 'f'.repeat(64) });
    expect(await verifyAudit(store)).toMatchObject({ ok: false, firstBroken: { seq: 3, problem: 'head_mismatch' } });
    // Head gone altogether.
    await store.delete(auditKeys.head);
    expect(await verifyAudit(store)).toMatchObject({ ok: false, firstBroken: { seq: 1, problem: 'no_head' } });
  });

  it('adopts an entry written just before a crash instead of overwriting it', async () => {
    await fill(3);
    const e3 = await entry(3);
    await store.set(auditKeys.head, { seq: 2, hash: e3.prev }); // the head never moved to 3
    const e4 = await log.append({ actor: 'U9', action: 'command', detail: 'after the crash' });
    expect(e4.seq).toBe(4);
    expect((await entry(3)).entryHash).toBe(e3.entryHash);
    expect(await verifyAudit(store)).toMatchObject({ ok: true, checked: 4 });
  });

  it('exports JSON Lines exactly as stored, and CSV safe to open in a spreadsheet', async () => {
    await log.append({ appeal: 'AAAA', actor: 'U1', action: 'command', detail: '=HYPERLINK("http://evil")', reason: 'a, "quoted"\nreason' });
    const entries = await log.forAppeal('AAAA');
    const jsonl = toJsonLines(entries);
    const parsed = jsonl.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(parsed[0]).toEqual(entries[0]);
    expect(entryHash(parsed[0]!)).toBe(parsed[0]!.entryHash);
    const csv = toCsv(entries);
    expect(csv.split('\r\n')[0]).toBe('seq,at,appeal,actor,action,network,detail,hash,reason,prev,entryHash');
    expect(csv).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(csv).toContain('"a, ""quoted""\nreason"');
  });
});

describe('loudhailer audit verify', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lh-audit-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function run(env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const code = await auditVerify(env, { write: (l) => lines.push(l) });
    return { code, out: lines.join('\n') };
  }

  it('says ok for a sound chain, names the first broken entry otherwise, and never prints the store password', async () => {
    const url = `sqlite://${join(dir, 'lh.sqlite')}`;
    const store = await openStore(url);
    const log = new AuditLog({ store, clock: systemClock, lock: new KeyedLock(store, systemClock), logger: silent });
    for (let i = 0; i < 4; i++) await log.append({ actor: 'U1', action: 'command', detail: `c${i}` });
    await store.close();
    expect(await run({ STORE_URL: url })).toMatchObject({ code: 0, out: expect.stringContaining('ok: 4 entries') });

    const again = await openStore(url);
    const e2 = (await again.get<AuditEntry>(auditKeys.entry(2)))!;
    await again.set(auditKeys.entry(2), { ...e2, detail: 'something else' });
    await again.close();
    const broken = await run({ STORE_URL: url });
    expect(broken.code).toBe(1);
    expect(broken.out).toContain('BROKEN at entry 2');

    expect(await run({ STORE_URL: `sqlite://${join(dir, 'nope.sqlite')}` })).toMatchObject({ code: 2, out: expect.stringContaining("doesn't exist") });
    const pg = await run({ STORE_URL: 'postgres://auditor:s3cretPassw0rd@127.0.0.1:1/none' });
    expect(pg.code).toBe(2);
    expect(pg.out).not.toContain('s3cretPassw0rd');
  });
});
