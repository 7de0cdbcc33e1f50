/**
 * `loudhailer audit verify` (`npm run audit:verify`): checks the whole hash-chained audit
 * trail in the store named by STORE_URL (the same default as the bot) and reports the first
 * broken entry. Exit code 0 when the chain is sound, 1 when it is broken, 2 when the store
 * can't be read. Needs no chat or network credentials.
 */
import { existsSync } from 'node:fs';
import { verifyAudit, type AuditVerdict } from '../core/audit.js';
import { openStore, redactUrl } from '../store/index.js';

export const DEFAULT_STORE_URL = 'sqlite://data/loudhailer.sqlite';

export interface VerifyOutput {
  write(line: string): void;
}

export async function auditVerify(env: NodeJS.ProcessEnv, out: VerifyOutput): Promise<number> {
  const url = env.STORE_URL?.trim() || DEFAULT_STORE_URL;
  const shown = redactUrl(url);
  const sqlitePath = /^sqlite:\/\/(.+)$/i.exec(url)?.[1];
  if (sqlitePath !== undefined && !existsSync(sqlitePath)) {
    out.write(`audit verify: no store at ${shown} (file ${sqlitePath} doesn't exist). Set STORE_URL to the bot's store.`);
    return 2;
  }
  let store;
  try {
    store = await openStore(url);
  } catch (err) {
    out.write(`audit verify: can't open the store ${shown}: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const started = performance.now();
  let verdict: AuditVerdict;
  try {
    verdict = await verifyAudit(store);
  } catch (err) {
    out.write(`audit verify: reading the store ${shown} failed: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  } finally {
    await store.close().catch(() => undefined);
  }
  const seconds = (performance.now() - started) / 1000;
  if (verdict.ok) {
    out.write(
      verdict.checked === 0
        ? `audit verify: ok: the audit trail in ${shown} is empty.`
        : `audit verify: ok: ${verdict.checked} entries, chain intact, head ${verdict.head!.hash} (${seconds.toFixed(1)} s).`,
    );
    return 0;
  }
  const b = verdict.firstBroken!;
  out.write(`audit verify: BROKEN at entry ${b.seq}: ${b.detail} [${b.problem}]. Entries 1–${verdict.checked} are sound; the log head says ${verdict.head?.seq ?? 'nothing'}.`);
  return 1;
}
