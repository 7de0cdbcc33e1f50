/**
 * Slack, through @slack/web-api (the bot's client) at SLACK_API_URL:
 *
 * - `auth.test` with SLACK_BOT_TOKEN: the workspace and the bot user; its `x-oauth-scopes`
 *   header (the SDK's `response_metadata.scopes`) against manifest.yml's bot scopes.
 * - REPORT_CHANNEL, when set: `conversations.history` with `limit=1`. It needs only
 *   channels:history / groups:history, which the bot has; `conversations.info` (is_member)
 *   would need channels:read / groups:read, which the manifest does not ask for. A bot
 *   outside a public channel gets `not_in_channel`; outside a private one `channel_not_found`.
 * - SLACK_APP_TOKEN, when set: `apps.connections.open` (what Socket Mode does first; the URL
 *   it hands out is not used).
 *
 * No retries, rate limits rejected at once: the doctor reports, it does not wait.
 */
import { LogLevel, WebClient, type WebClientOptions } from '@slack/web-api';
import type { SlackConfig } from '../../config.js';
import { REQUIRED_BOT_SCOPES } from './slack-scopes.js';
import { findErrno, hostOf, ok, problem, unreachable, type CheckContext, type Verdict } from './verdict.js';

const APPS_PAGE = 'api.slack.com/apps → your app';

const quietSlackLogger: NonNullable<WebClientOptions['logger']> = {
  debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined,
  setLevel: () => undefined, getLevel: () => LogLevel.ERROR, setName: () => undefined,
};

/** A Web API failure, read by its `code` (not instanceof: the SDK ships CJS and ESM builds). */
interface SlackFailure {
  kind: 'platform' | 'http' | 'rate' | 'transport' | 'other';
  /** Slack's `error` (platform), or the HTTP status as text. */
  error: string;
  retryAfter?: number;
  errno?: string;
  needed?: string;
}

function readFailure(err: unknown): SlackFailure {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    code?: unknown; data?: { error?: unknown; needed?: unknown }; statusCode?: unknown; retryAfter?: unknown;
  };
  switch (e.code) {
    case 'slack_webapi_platform_error':
      return { kind: 'platform', error: String(e.data?.error ?? 'unknown_error'), ...(typeof e.data?.needed === 'string' ? { needed: e.data.needed } : {}) };
    case 'slack_webapi_http_error':
      return { kind: 'http', error: String(e.statusCode ?? '?') };
    case 'slack_webapi_rate_limited_error':
      return { kind: 'rate', error: 'ratelimited', ...(typeof e.retryAfter === 'number' ? { retryAfter: e.retryAfter } : {}) };
    case 'slack_webapi_request_error': {
      const errno = findErrno(err);
      return { kind: 'transport', error: 'request failed', ...(errno ? { errno } : {}) };
    }
    default:
      return { kind: 'other', error: err instanceof Error ? err.name : 'unknown' };
  }
}

/** What to say about a failed call that is not about the token itself. */
function generic(f: SlackFailure, method: string, config: SlackConfig, ctx: CheckContext): Verdict | undefined {
  if (f.kind === 'transport') return unreachable(hostOf(config.apiUrl), f.errno, ctx.timeoutMs, 'SLACK_API_URL');
  if (f.kind === 'rate') return problem(`Slack is rate-limiting ${method}${f.retryAfter !== undefined ? ` for ${f.retryAfter} s` : ''}: run the doctor again in a minute (nothing was checked)`);
  if (f.kind === 'http') {
    return Number(f.error) >= 500
      ? problem(`Slack is having problems (HTTP ${f.error} from ${method}): try again later (the token was not checked)`)
      : problem(`${hostOf(config.apiUrl)} answered HTTP ${f.error} to ${method}: is SLACK_API_URL (${config.apiUrl}) Slack's Web API?`);
  }
  return undefined;
}

function tokenWords(error: string): string {
  const fix = `copy the Bot User OAuth Token (xoxb-…) from ${APPS_PAGE} → "OAuth & Permissions" into SLACK_BOT_TOKEN`;
  switch (error) {
    case 'token_revoked':
    case 'app_uninstalled':
      return `SLACK_BOT_TOKEN was revoked (${error}; the app was removed from the workspace?): install it again from ${APPS_PAGE} → "Install App", then ${fix}`;
    case 'account_inactive':
      return `SLACK_BOT_TOKEN belongs to a deactivated bot or workspace (account_inactive): install the app again, then ${fix}`;
    case 'token_expired':
      return `SLACK_BOT_TOKEN has expired (token rotation is on): turn token rotation off in "OAuth & Permissions", reinstall, then ${fix}`;
    default:
      return `Slack refused SLACK_BOT_TOKEN (${error}): ${fix}`;
  }
}

export async function checkSlack(config: SlackConfig & { reportChannel?: string }, ctx: CheckContext): Promise<Verdict> {
  const options: WebClientOptions = {
    slackApiUrl: config.apiUrl, timeout: ctx.requestTimeoutMs, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: quietSlackLogger,
  };
  const client = new WebClient(config.botToken, options);
  ctx.host = hostOf(config.apiUrl);

  let auth: Awaited<ReturnType<WebClient['auth']['test']>>;
  try {
    auth = await client.auth.test();
  } catch (err) {
    const f = readFailure(err);
    return generic(f, 'auth.test', config, ctx) ?? problem(f.kind === 'platform' ? tokenWords(f.error) : `auth.test failed (${f.error})`);
  }
  const botName = auth.user ?? 'Loudhailer';
  const problems: string[] = [];
  const notes: string[] = [];

  const granted = auth.response_metadata?.scopes;
  const missing = granted ? REQUIRED_BOT_SCOPES.filter((s) => !granted.includes(s)) : [];
  if (!granted) notes.push('scopes not reported by Slack (no x-oauth-scopes header), not checked');
  else if (missing.length > 0) {
    const them = missing.length === 1 ? 'it' : 'them';
    problems.push(`the bot token lacks the scope${missing.length === 1 ? '' : 's'} ${missing.join(', ')}: add ${them} under ${APPS_PAGE} → "OAuth & Permissions" → Bot Token Scopes (or paste manifest.yml into "App Manifest" again), then "Reinstall to Workspace"`);
  } else notes.push(`all ${REQUIRED_BOT_SCOPES.length} scopes`);

  const [channel, socket] = await Promise.all([
    config.reportChannel ? checkChannel(client, config.reportChannel, botName, missing) : undefined,
    config.appToken ? checkAppToken(config, options) : undefined,
  ]);
  for (const r of [channel, socket]) {
    if (r === undefined) continue;
    if ('transport' in r) return generic(r.transport, r.method, config, ctx)!;
    if (r.problem) problems.push(r.problem);
    if (r.note) notes.push(r.note);
  }

  const who = `${auth.team ?? auth.team_id ?? 'the workspace'} as @${botName}`;
  if (problems.length > 0) return problem(`${who}, but ${problems.join('; and ')}`);
  return ok(`${who} (${notes.join('; ')})`);
}

type Sub = { problem?: string; note?: string } | { transport: SlackFailure; method: string };

async function checkChannel(client: WebClient, channel: string, botName: string, missingScopes: string[]): Promise<Sub> {
  try {
    await client.conversations.history({ channel, limit: 1 });
    return { note: `in REPORT_CHANNEL ${channel}` };
  } catch (err) {
    const f = readFailure(err);
    if (f.kind !== 'platform') return { transport: f, method: 'conversations.history' };
    switch (f.error) {
      case 'not_in_channel':
        return { problem: `the bot is not in REPORT_CHANNEL ${channel}: type \`/invite @${botName}\` in that channel` };
      case 'channel_not_found':
        return { problem: `REPORT_CHANNEL ${channel} was not found: check the id (channel name → "About" → Channel ID at the bottom); if it is a private channel, type \`/invite @${botName}\` in it` };
      case 'missing_scope':
        // Already named among the missing scopes, or Slack wants another one for this channel.
        return missingScopes.length > 0
          ? { note: `REPORT_CHANNEL ${channel} not checked until the scopes are added` }
          : { problem: `the bot can't read REPORT_CHANNEL ${channel} (missing_scope${f.needed ? `: needs ${f.needed}` : ''}): add it under "OAuth & Permissions" → Bot Token Scopes and reinstall` };
      case 'is_archived':
        return { problem: `REPORT_CHANNEL ${channel} is archived: unarchive it or choose another channel` };
      default:
        return { problem: `Slack refused to read REPORT_CHANNEL ${channel} (${f.error})` };
    }
  }
}

async function checkAppToken(config: SlackConfig, options: WebClientOptions): Promise<Sub> {
  const client = new WebClient(config.appToken, options);
  try {
    await client.apps.connections.open({});
    return { note: 'Socket Mode token ok' };
  } catch (err) {
    const f = readFailure(err);
    if (f.kind !== 'platform') return { transport: f, method: 'apps.connections.open' };
    const fix = `create an app-level token with the connections:write scope under ${APPS_PAGE} → "Basic Information" → App-Level Tokens, and put it in SLACK_APP_TOKEN`;
    if (f.error === 'missing_scope') return { problem: `SLACK_APP_TOKEN lacks the connections:write scope: ${fix}` };
    if (f.error === 'not_allowed_token_type') return { problem: `SLACK_APP_TOKEN is not an app-level token (xapp-…): ${fix}` };
    return { problem: `Slack refused SLACK_APP_TOKEN (${f.error}): ${fix}; and turn on "Socket Mode" for the app` };
  }
}
