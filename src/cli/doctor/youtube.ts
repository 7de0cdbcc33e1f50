/**
 * YouTube, through the adapter's client (googleapis rooted at GOOGLE_API_URL, and its
 * google-auth-library OAuth2 client with GOOGLE_TOKEN_URL):
 *
 * 1. the refresh token is exchanged for an access token at GOOGLE_TOKEN_URL (the same OAuth2
 *    client the bot uses); Google's answer names the scopes granted;
 * 2. `channels.list?mine=true&part=snippet`: the channel the token belongs to.
 *
 * Quota: the adapter counts the units it spends in memory only (QuotaLedger, reset at every
 * start), and YouTube offers no API for a project's remaining quota, so the doctor can only
 * state a guess: YouTube's default of 10,000 units a day and what an upload and a comment cost.
 */
import type { YouTubeConfig } from '../../config.js';
import { readErrorBody, YouTubeApiError, YouTubeTransportError } from '../../platforms/youtube/call.js';
import { createYouTubeHttp } from '../../platforms/youtube/client.js';
import { INSERT_UNITS } from '../../platforms/youtube/upload.js';
import { findErrno, hostOf, ok, problem, silentLogger, unreachable, type CheckContext, type Verdict } from './verdict.js';

/** YouTube's default daily quota per Google Cloud project. */
const DEFAULT_DAILY_UNITS = 10_000;
/** commentThreads.insert (a follow-up), as the adapter charges it. */
const COMMENT_UNITS = 50;
const SCOPE_PREFIX = 'https://www.googleapis.com/auth/';
/** What the bot's refresh token must carry (src/platforms/youtube/index.ts). */
const NEEDED_SCOPES = ['youtube.upload', 'youtube', 'youtube.force-ssl'];
const CREDENTIALS_PAGE = 'console.cloud.google.com → APIs & Services → Credentials → your OAuth client';

interface AuthLike {
  getAccessToken(): Promise<{ token?: string | null }>;
  credentials?: { scope?: string };
}

export function quotaGuess(): string {
  const fmt = (n: number) => n.toLocaleString('en-GB');
  return `quota, a guess: the bot counts units only while it runs, and YouTube does not say what is left; `
    + `the default is ${fmt(DEFAULT_DAILY_UNITS)} units a day per project, an upload costs ${fmt(INSERT_UNITS)} and a comment ${COMMENT_UNITS}, `
    + `so about ${Math.floor(DEFAULT_DAILY_UNITS / INSERT_UNITS)} uploads a day`;
}

export async function checkYouTube(config: YouTubeConfig, ctx: CheckContext): Promise<Verdict> {
  const http = createYouTubeHttp(config, silentLogger);
  const auth = (http.api.context._options.auth ?? undefined) as unknown as AuthLike | undefined;

  // 1. The refresh token, on its own, so a failure names the token endpoint.
  let scopes: string[] | undefined;
  if (auth && typeof auth.getAccessToken === 'function') {
    ctx.host = hostOf(config.tokenUrl);
    try {
      await auth.getAccessToken();
    } catch (err) {
      return tokenFailure(err, config, ctx);
    }
    const granted = auth.credentials?.scope;
    if (typeof granted === 'string') scopes = granted.split(/\s+/).filter(Boolean).map((s) => s.replace(SCOPE_PREFIX, ''));
  }

  // 2. The channel.
  ctx.host = hostOf(config.apiUrl);
  let items: Array<{ id?: string | null; snippet?: { title?: string | null } | null }>;
  try {
    const res = await http.sdk('channels.list', ctx.requestTimeoutMs, (o) => http.api.channels.list({ part: ['snippet'], mine: true }, o));
    items = res.items ?? [];
  } catch (err) {
    if (err instanceof YouTubeTransportError) {
      const fromToken = /token endpoint/.test(err.message);
      return unreachable(fromToken ? hostOf(config.tokenUrl) : ctx.host, err.errno, ctx.timeoutMs, fromToken ? 'GOOGLE_TOKEN_URL' : 'GOOGLE_API_URL');
    }
    if (err instanceof YouTubeApiError) return err.fromTokenEndpoint ? tokenVerdict(err, config) : apiVerdict(err, config, ctx);
    throw err;
  }

  const channel = items[0];
  if (!channel) {
    return problem('the Google account of YOUTUBE_REFRESH_TOKEN has no YouTube channel: create one (youtube.com → "Create a channel"), '
      + 'or run `loudhailer auth youtube` signed in as the account (or brand account) that owns the force\'s channel');
  }
  const missing = scopes ? NEEDED_SCOPES.filter((s) => !scopes.includes(s)) : [];
  const name = `"${channel.snippet?.title ?? channel.id ?? 'the channel'}"${channel.id ? ` (${channel.id})` : ''}`;
  if (missing.length > 0) {
    const forComments = missing.length === 1 && missing[0] === 'youtube.force-ssl' ? ' (follow-up comments need it)' : '';
    return problem(`${name}, but YOUTUBE_REFRESH_TOKEN lacks the scope${missing.length === 1 ? '' : 's'} ${missing.join(', ')}${forComments}: run \`loudhailer auth youtube\` and allow every permission asked`);
  }
  return ok(`${name}; ${quotaGuess()}`);
}

/** A failed refresh: Google's OAuth error (sanitised: the request body holds the refresh token), or no answer. */
function tokenFailure(err: unknown, config: YouTubeConfig, ctx: CheckContext): Verdict {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { response?: { status?: unknown; data?: unknown } };
  if (typeof e.response?.status === 'number') {
    let data = e.response.data;
    if (typeof data === 'string') {
      try {
        data = JSON.parse(data);
      } catch {
        data = {};
      }
    }
    const apiErr = readErrorBody('token', e.response.status, data, undefined);
    return tokenVerdict(new YouTubeApiError('token', apiErr.status, apiErr.reasons, apiErr.detail, undefined, true), config);
  }
  return unreachable(ctx.host, findErrno(err), ctx.timeoutMs, 'GOOGLE_TOKEN_URL');
}

function tokenVerdict(err: YouTubeApiError, config: YouTubeConfig): Verdict {
  const has = (r: string) => err.reasons.includes(r);
  if (has('invalid_grant')) {
    return problem('YOUTUBE_REFRESH_TOKEN revoked or expired: run `loudhailer auth youtube` '
      + '(tokens of an OAuth app still in "Testing" expire after 7 days: publish the app on its OAuth consent screen)');
  }
  if (has('invalid_client') || has('unauthorized_client')) {
    return problem(`Google refused YOUTUBE_CLIENT_ID / YOUTUBE_CLIENT_SECRET (${err.reasons.join(', ')}): copy them from ${CREDENTIALS_PAGE}, then run \`loudhailer auth youtube\``);
  }
  if (err.status >= 500) return problem(`Google's token endpoint is having problems (HTTP ${err.status}): try again later (the token was not checked)`);
  if (err.status === 404) return problem(`${hostOf(config.tokenUrl)} has no token endpoint (HTTP 404): check GOOGLE_TOKEN_URL (${config.tokenUrl})`);
  return problem(`Google refused the refresh (HTTP ${err.status}${err.reasons.length ? `, ${err.reasons.join(', ')}` : ''}): run \`loudhailer auth youtube\``);
}

function apiVerdict(err: YouTubeApiError, config: YouTubeConfig, ctx: CheckContext): Verdict {
  const has = (...r: string[]) => r.some((x) => err.reasons.includes(x));
  if (has('quotaExceeded', 'dailyLimitExceeded')) {
    return problem('the project\'s YouTube quota is used up until midnight Pacific (not a credential problem): wait, or ask Google for more on the quota page of the YouTube Data API');
  }
  if (has('accessNotConfigured', 'SERVICE_DISABLED')) {
    return problem('the YouTube Data API v3 is not enabled for YOUTUBE_CLIENT_ID\'s project: enable it under console.cloud.google.com → APIs & Services → Library');
  }
  if (has('insufficientPermissions', 'ACCESS_TOKEN_SCOPE_INSUFFICIENT')) {
    return problem(`YOUTUBE_REFRESH_TOKEN lacks the scopes ${NEEDED_SCOPES.join(', ')}: run \`loudhailer auth youtube\` and allow every permission asked`);
  }
  if (err.status === 401 || has('authError')) return problem('YouTube refused the access token it was given for YOUTUBE_REFRESH_TOKEN: run `loudhailer auth youtube`');
  if (has('youtubeSignupRequired')) return problem('the Google account of YOUTUBE_REFRESH_TOKEN has no YouTube channel: create one, then run `loudhailer auth youtube`');
  if (err.status >= 500) return problem(`YouTube is having problems (HTTP ${err.status}): try again later`);
  if (err.status === 404) return problem(`${ctx.host} has no YouTube Data API (HTTP 404): check GOOGLE_API_URL (${config.apiUrl})`);
  return problem(`YouTube refused channels.list (HTTP ${err.status}${err.reasons.length ? `, ${err.reasons.join(', ')}` : ''}${err.detail ? `: ${err.detail}` : ''})`);
}
