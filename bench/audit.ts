/**
 * Audit trail: how fast entries are appended (through AuditLog: the cross-replica lease,
 * the head, the per-appeal index), and how fast `verifyAudit` (what `npm run audit:verify`
 * runs) checks a chain of 100,000 entries, on SQLite (a file, as in production) and, when
 * BENCH_REDIS_URL / BENCH_POSTGRES_URL are set, on Redis and PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, auditKeys, entryHash, GENESIS, verifyAudit, type AuditEntry } from '../src/core/audit.js';
import { KeyedLock } from '../src/core/lock.js';
import { systemClock, type Logger, type Store } from '../src/core/ports.js';
import { openStore } from '../src/store/index.js';

const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 100_000);
const APPENDS = Number(process.env.BENCH_AUDIT_APPENDS ?? 2_000);
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

export async function auditBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lh-bench-audit-'));
  const targets: Array<[string, string]> = [['sqlite (file)', `sqlite://${join(dir, 'audit.sqlite')}`]];
  if (process.env.BENCH_REDIS_URL) targets.push(['redis', process.env.BENCH_REDIS_URL]);
  if (process.env.BENCH_POSTGRES_URL) targets.push(['postgres', process.env.BENCH_POSTGRES_URL]);
  try {
    for (const [name, url] of targets) {
      const store = await openStore(url);
      try {
        await clear(store);
        const log = new AuditLog({ store, clock: systemClock, lock: new KeyedLock(store, systemClock), logger: silent });
        let t = performance.now();
        for (let i = 0; i < APPENDS; i++) await log.append({ appeal: `A${i % 50}`, actor: 'U1', action: 'command', detail: `/appeal status A${i % 50}` });
        const appendMs = performance.now() - t;
        console.log(`${name}: ${APPENDS} appends one after another: ${(APPENDS / (appendMs / 1000)).toFixed(0)} entries/s (${(appendMs / APPENDS).toFixed(2)} ms each)`);

        await clear(store);
        await writeChain(store, ENTRIES);
        t = performance.now();
        const verdict = await verifyAudit(store);
        const verifyMs = performance.now() - t;
        console.log(`${name}: verify ${ENTRIES.toLocaleString('en-GB')} entries: ${verdict.ok ? 'ok' : 'BROKEN'} in ${(verifyMs / 1000).toFixed(2)} s = ${Math.round(ENTRIES / (verifyMs / 1000)).toLocaleString('en-GB')} entries/s`);
        await clear(store);
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same chain AuditLog would write, written in parallel batches (setup, not measured). */
async function writeChain(store: Store, n: number): Promise<void> {
  let prev = GENESIS;
  const at = Date.now();
  const batch: AuditEntry[] = [];
  const flush = async () => {
    await Promise.all(batch.map((e) => store.set(auditKeys.entry(e.seq), e)));
    batch.length = 0;
  };
  for (let seq = 1; seq <= n; seq++) {
    const base = { seq, at: at + seq, appeal: `A${seq % 500}`, actor: `U${seq % 7}`, action: 'reaction' as const, detail: ':white_check_mark: added to card 1', reason: 'counted; 1 of 2 approvals count', prev };
    const e: AuditEntry = { ...base, entryHash: entryHash(base) };
    prev = e.entryHash;
    batch.push(e);
    if (batch.length === 1_000) await flush();
  }
  await flush();
  await store.set(auditKeys.head, { seq: n, hash: prev });
}

async function clear(store: Store): Promise<void> {
  const head = await store.get<{ seq: number }>(auditKeys.head);
  if (!head) return;
  for (let s = 1; s <= head.seq + 1; s += 1_000) {
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => store.delete(auditKeys.entry(s + i))));
  }
  await store.delete(auditKeys.head);
}
