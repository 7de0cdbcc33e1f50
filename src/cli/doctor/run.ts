/**
 * `loudhailer doctor`: reads the environment as the bot does, then checks every configured
 * credential against its live API, all at once, each within its own deadline, and prints one
 * line per platform: `ok` and the account, or what is wrong and the fix.
 *
 * Exit code: 0 when everything configured is ok; 1 when a check failed; 2 when the
 * configuration itself is unusable (what `npm start` would refuse, also exit code 2): those
 * problems come first, one line each, and everything that can still be checked is checked.
 *
 * Nothing printed holds a secret: the checks build their own words (never an SDK's error,
 * whose request holds the token), and every line is scrubbed of the values of the secret
 * variables (and of STORE_URL's password) before it is written, as a second line of defence.
 */
import { SECRET_VARIABLES } from '../../config.js';
import { ErrorFactory } from '../../store/errors.js';
import { checkFacebook } from './facebook.js';
import { checkFlickr } from './flickr.js';
import { FACEBOOK_VARIABLES, FLICKR_VARIABLES, readSettings, X_VARIABLES, YOUTUBE_VARIABLES, type Part } from './settings.js';
import { checkSlack } from './slack.js';
import { checkStore } from './store.js';
import { brief, duration, findErrno, note, off, problem, unreachable, type CheckContext, type Verdict } from './verdict.js';
import { checkX } from './x.js';
import { checkYouTube } from './youtube.js';

export interface DoctorOutput {
  write(line: string): void;
}

export interface DoctorOptions {
  /** Each check's deadline, ms. Default: DOCTOR_TIMEOUT_SECONDS, else 10 s. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/** The SDKs' own request timeout is this much longer than the check's deadline, so the deadline (which names the host) speaks first. */
const REQUEST_GRACE_MS = 1_000;

interface Line {
  platform: string;
  verdict: Verdict;
}

export async function runDoctor(env: NodeJS.ProcessEnv, out: DoctorOutput, options: DoctorOptions = {}): Promise<number> {
  const write = scrubbing(env, out);
  const settings = readSettings(env);
  const configProblems = [...settings.problems];

  let timeoutMs = options.timeoutMs;
  if (timeoutMs === undefined) {
    const raw = env.DOCTOR_TIMEOUT_SECONDS?.trim();
    if (raw && !/^\d+$/.test(raw)) configProblems.push('DOCTOR_TIMEOUT_SECONDS: expected a whole number of seconds from 1 to 120, default 10');
    const secs = raw && /^\d+$/.test(raw) ? Number(raw) : undefined;
    if (secs !== undefined && (secs < 1 || secs > 120)) configProblems.push('DOCTOR_TIMEOUT_SECONDS: expected a whole number of seconds from 1 to 120, default 10');
    timeoutMs = secs !== undefined && secs >= 1 && secs <= 120 ? secs * 1000 : DEFAULT_TIMEOUT_MS;
  }

  const run = <T>(p: Part<T>, offText: string, urlSetting: string, check: (config: T, ctx: CheckContext) => Promise<Verdict>): Promise<Verdict> => {
    if (p.kind === 'off') return Promise.resolve(off(offText));
    if (p.kind === 'broken') return Promise.resolve(problem(`not checked: fix ${p.variables.join(', ') || 'the configuration'} first (see Config above)`));
    return guarded(timeoutMs, urlSetting, (ctx) => check(p.config, ctx));
  };

  write(`loudhailer doctor: checking every configured credential (${duration(timeoutMs)} per check)`);
  for (const p of configProblems) write(`Config: ${p}`);

  const checks: Array<[string, Promise<Verdict>]> = [
    ['Slack', settings.slack.kind === 'off'
      ? Promise.resolve(problem('not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode); the bot runs on Slack'))
      : run(settings.slack, '', 'SLACK_API_URL', checkSlack)],
    ['X', run(settings.x, `not configured (set ${X_VARIABLES.join(', ')})`, 'X_API_URL', checkX)],
    ['YouTube', run(settings.youtube, `not configured (set ${YOUTUBE_VARIABLES.join(', ')})`, 'GOOGLE_API_URL', checkYouTube)],
    ['Flickr', run(settings.flickr, `not configured (set ${FLICKR_VARIABLES.join(', ')})`, 'FLICKR_API_URL', checkFlickr)],
    ['Facebook', run(settings.facebook, `not configured (set ${FACEBOOK_VARIABLES.join(', ')})`, 'FACEBOOK_GRAPH_URL', checkFacebook)],
    ['Discord', Promise.resolve(settings.discord
      ? note('not supported by this version: the bot runs on Slack only (DISCORD_TOKEN and DISCORD_APP_ID are ignored)')
      : off('not configured (not supported by this version)'))],
    ['Store', run(settings.store, '', 'STORE_URL', (c, ctx) => checkStore(c.url, ctx))],
  ];
  const lines: Line[] = [];
  for (const [platform, verdict] of checks) lines.push({ platform, verdict: await verdict });
  if (settings.rehearsal) {
    lines.push({ platform: 'Rehearsal', verdict: note('REHEARSAL=1: the bot will publish to its simulators, not to these networks (their credentials are checked all the same)') });
  }

  for (const { platform, verdict } of lines) write(`${platform}: ${verdict.text}`);
  const failed = lines.filter((l) => l.verdict.status === 'problem').map((l) => l.platform);
  if (configProblems.length > 0) {
    write(`doctor: the configuration is unusable (${configProblems.length} problem${configProblems.length === 1 ? '' : 's'} above): the bot would not start${failed.length ? `; also failing: ${failed.join(', ')}` : ''}`);
    return 2;
  }
  if (failed.length > 0) {
    write(`doctor: ${failed.length} problem${failed.length === 1 ? '' : 's'} (${failed.join(', ')}): fix ${failed.length === 1 ? 'it' : 'them'} and run \`loudhailer doctor\` again`);
    return 1;
  }
  write('doctor: everything configured is ok');
  return 0;
}

/** Runs one check within its deadline; a deadline or an unexpected error becomes a verdict. */
async function guarded(timeoutMs: number, urlSetting: string, check: (ctx: CheckContext) => Promise<Verdict>): Promise<Verdict> {
  const ctx: CheckContext = { timeoutMs, requestTimeoutMs: timeoutMs + REQUEST_GRACE_MS, host: '' };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Verdict>((resolve) => {
    timer = setTimeout(() => resolve(unreachable(ctx.host || 'the API', 'ETIMEDOUT', timeoutMs, urlSetting)), timeoutMs);
  });
  const work = (async () => {
    try {
      return await check(ctx);
    } catch (err) {
      const errno = findErrno(err);
      if (errno) return unreachable(ctx.host || 'the API', errno, timeoutMs, urlSetting);
      return problem(`the check failed unexpectedly (${brief(err)})`);
    }
  })();
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A writer that replaces every secret's value (and STORE_URL's password) with "***". */
function scrubbing(env: NodeJS.ProcessEnv, out: DoctorOutput): (line: string) => void {
  const secrets = new Set<string>();
  for (const name of SECRET_VARIABLES) {
    if (name === 'STORE_URL') continue;
    const v = env[name];
    if (v === undefined) continue;
    for (const s of [v, v.trim()]) if (s.length >= 4) secrets.add(s);
  }
  const sorted = [...secrets].sort((a, b) => b.length - a.length);
  const storeUrl = env.STORE_URL?.trim();
  const store = storeUrl ? new ErrorFactory(storeUrl, undefined) : undefined;
  return (line) => {
    let text = line;
    for (const s of sorted) text = text.split(s).join('***');
    if (store) text = store.scrub(text);
    out.write(text);
  };
}
