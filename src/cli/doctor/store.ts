/**
 * The store: STORE_URL opens and answers a read (one `get` of a key nobody writes). A SQLite
 * file that does not exist yet is not created (the bot creates it at start): the doctor only
 * checks that its directory could be. The URL is shown with its password redacted.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openStore, redactUrl, StoreError } from '../../store/index.js';
import { sqlitePath } from '../../store/sqlite.js';
import { brief, ok, problem, transportWords, type CheckContext, type Verdict } from './verdict.js';

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);

export async function checkStore(url: string, ctx: CheckContext): Promise<Verdict> {
  const shown = redactUrl(url);
  const path = /^sqlite:\/\//i.test(url) ? sqlitePath(url) : undefined;
  if (path !== undefined && path !== ':memory:') {
    ctx.host = path;
    const exists = await stat(path).then((s) => s, () => undefined);
    if (!exists) {
      const dir = await nearestDirectory(dirname(path));
      if (!dir) return problem(`${shown}: no directory on the way to ${path} exists`);
      try {
        await access(dir, constants.W_OK);
      } catch {
        return problem(`${shown}: ${path} does not exist and ${dir} is not writable, so the bot could not create it: fix the permissions or point STORE_URL elsewhere`);
      }
      return ok(`${shown} (not created yet: the bot creates it at start)`);
    }
    if (!exists.isFile()) return problem(`${shown}: ${path} is not a file: point STORE_URL at a file`);
  } else {
    try {
      ctx.host = new URL(url).host || shown;
    } catch {
      ctx.host = shown;
    }
  }

  let store;
  try {
    store = await openStore(url);
  } catch (err) {
    return failure(err, shown, ctx);
  }
  try {
    await store.get('doctor:probe');
  } catch (err) {
    return failure(err, shown, ctx);
  } finally {
    await store.close().catch(() => undefined);
  }
  return ok(shown);
}

async function nearestDirectory(dir: string): Promise<string | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    const s = await stat(d).catch(() => undefined);
    if (s) return s.isDirectory() ? d : undefined;
    if (dirname(d) === d) return undefined;
  }
}

function failure(err: unknown, shown: string, ctx: CheckContext): Verdict {
  const code = err instanceof StoreError ? err.causeCode : undefined;
  if (code && UNREACHABLE.has(code)) return problem(`can't reach ${ctx.host}: ${transportWords(code, ctx.timeoutMs)} (check STORE_URL ${shown} and that the server is up)`);
  // StoreError messages never hold the password (src/store/errors.ts).
  return problem(`can't open ${shown}: ${err instanceof StoreError ? err.message : brief(err)}`);
}
