/**
 * Environment → typed, validated configuration. The environment is read once, here,
 * through an argument (`loadConfig(env)`); every problem is reported at once, one line
 * per variable, naming what it expects. Values of secret variables never appear in
 * an error, a log line or `describeConfig()`.
 */
import { isCronExpression } from './scheduler.js';
import { z } from 'zod';
import { isNetworkName, NETWORKS, type NetworkName } from './core/networks.js';
import { redactUrl } from './store/errors.js';

export { redactUrl };

export interface SlackConfig {
  botToken: string;
  signingSecret?: string;
  appToken?: string;
  apiUrl: string;
}

export interface DiscordConfig {
  token: string;
  appId: string;
  guildId?: string;
  apiUrl: string;
}

export interface ApprovalConfig {
  /** User ids, Slack user-group ids (S…), Discord role ids. */
  approvers: string[];
  required: number;
  /** When non-empty, at least one approval must come from these ids. */
  seniors: string[];
  approveEmoji: string;
  rejectEmoji: string;
}

export interface XConfig { appKey: string; appSecret: string; accessToken: string; accessSecret: string; apiUrl: string }
export interface YouTubeConfig { clientId: string; clientSecret: string; refreshToken: string; privacy: 'public' | 'unlisted'; apiUrl: string; tokenUrl: string }
export interface FlickrConfig { apiKey: string; apiSecret: string; oauthToken: string; oauthSecret: string; apiUrl: string; uploadUrl: string }
export interface FacebookConfig { pageId: string; pageToken: string; graphUrl: string }

export interface Config {
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  storeUrl: string;
  slack?: SlackConfig;
  discord?: DiscordConfig;
  approval: ApprovalConfig;
  networks: {
    x?: XConfig;
    youtube?: YouTubeConfig;
    flickr?: FlickrConfig;
    facebook?: FacebookConfig;
  };
  reach: { refreshSeconds: number; stopAfterDays: number; xReadBudget?: number };
  reports: { cron?: string; channel?: string; timeZone: string };
  media: { imageMaxBytes: number; videoMaxBytes: number; downloadTimeoutMs: number; ffmpegPath?: string };
  /**
   * Rehearsal mode (REHEARSAL=1): every network is a built-in simulator, whatever
   * credentials are set; `failures` (REHEARSAL_FAILURES) are the networks whose first
   * publish attempt of each appeal fails (see src/platforms/rehearsal/simulator.ts).
   */
  rehearsal?: RehearsalConfig;
}

export interface RehearsalConfig {
  failures: NetworkName[];
  /**
   * Where people in the room open the public-side view (REHEARSAL_PUBLIC_URL); unset:
   * http://localhost:<port>/rehearsal.
   */
  publicUrl?: string;
}

/** The variables whose values are secrets: never logged, never echoed. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN', 'DISCORD_TOKEN',
  'X_APP_SECRET', 'X_ACCESS_TOKEN', 'X_ACCESS_SECRET',
  'YOUTUBE_CLIENT_SECRET', 'YOUTUBE_REFRESH_TOKEN',
  'FLICKR_API_SECRET', 'FLICKR_OAUTH_TOKEN', 'FLICKR_OAUTH_SECRET',
  'FACEBOOK_PAGE_TOKEN', 'STORE_URL',
]);

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const url = z.url({ protocol: /^https?$/ });
const intIn = (min: number, max: number) => z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
const idList = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const emojiName = z.string().transform((s) => s.replace(/^:|:$/g, '')).pipe(z.string().regex(/^[a-z0-9_+'-]+$/));

/** A small reader: every problem is collected, values of secrets are never quoted. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** Parses an optional variable; undefined when unset. */
  optional<T>(name: string, schema: z.ZodType<T, string>, expects: string): T | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    const r = schema.safeParse(raw);
    if (r.success) return r.data;
    this.problems.push(`${name}: expected ${expects}`);
    return undefined;
  }

  withDefault<T>(name: string, schema: z.ZodType<T, string>, expects: string, fallback: T): T {
    return this.optional(name, schema, expects) ?? fallback;
  }

  required<T>(name: string, schema: z.ZodType<T, string>, expects: string): T | undefined {
    if (!this.has(name)) {
      this.problems.push(`${name}: required, ${expects}`);
      return undefined;
    }
    return this.optional(name, schema, expects);
  }

  /**
   * A credential group (a network or chat platform) is enabled when any of its
   * variables is set, and then all of them are required.
   */
  group(names: string[]): boolean {
    const set = names.filter((n) => this.has(n));
    if (set.length === 0) return false;
    for (const n of names) {
      if (!this.has(n)) this.problems.push(`${n}: required when ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set`);
    }
    return set.length === names.length;
  }
}

const secret = (prefix?: string) =>
  prefix ? z.string().startsWith(prefix) : z.string().min(1);

/** The store a rehearsal uses when STORE_URL is unset: never the real appeals' default one. */
export const REHEARSAL_DEFAULT_STORE_URL = 'sqlite://data/rehearsal.sqlite';
export const DEFAULT_STORE_URL = 'sqlite://data/loudhailer.sqlite';

const truthy = z.string().transform((s) => s.toLowerCase()).pipe(z.enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'])).transform((s) => ['1', 'true', 'yes', 'on'].includes(s));

export function loadConfig(env: Env): Config {
  const r = new Reader(env);

  const port = r.withDefault('PORT', intIn(0, 65535), 'a TCP port number (0-65535; 0 picks a free one), default 3000', 3000);
  const logLevel = r.withDefault('LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'one of fatal, error, warn, info, debug, trace, silent', 'info');
  const rehearsal = readRehearsal(r);
  const storeUrl = r.withDefault('STORE_URL', z.string().regex(/^(sqlite|redis|rediss|postgres|postgresql):\/\/.+/), 'sqlite://<path>, redis://… or postgres://…', rehearsal ? REHEARSAL_DEFAULT_STORE_URL : DEFAULT_STORE_URL);

  // Chat platforms. Slack is the only one this version runs.
  let slack: SlackConfig | undefined;
  const slackSet = r.has('SLACK_BOT_TOKEN') || r.has('SLACK_SIGNING_SECRET') || r.has('SLACK_APP_TOKEN');
  const discordSet = r.has('DISCORD_TOKEN') || r.has('DISCORD_APP_ID');
  if (slackSet || !discordSet) {
    const botToken = r.required('SLACK_BOT_TOKEN', secret('xoxb-'), 'the bot token (xoxb-…) from the Slack app\'s "OAuth & Permissions" page');
    const appToken = r.optional('SLACK_APP_TOKEN', secret('xapp-'), 'an app-level token (xapp-…) with connections:write, for Socket Mode');
    const signingSecret = appToken
      ? r.optional('SLACK_SIGNING_SECRET', secret(), 'the signing secret from the Slack app\'s "Basic Information" page')
      : r.required('SLACK_SIGNING_SECRET', secret(), 'the signing secret from the Slack app\'s "Basic Information" page (or set SLACK_APP_TOKEN for Socket Mode)');
    const apiUrl = r.withDefault('SLACK_API_URL', url, 'an http(s) URL of the Slack Web API, default https://slack.com/api/', 'https://slack.com/api/');
    if (botToken) slack = { botToken, apiUrl: apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`, ...(signingSecret ? { signingSecret } : {}), ...(appToken ? { appToken } : {}) };
  }

  let discord: DiscordConfig | undefined;
  if (r.group(['DISCORD_TOKEN', 'DISCORD_APP_ID'])) {
    discord = {
      token: r.required('DISCORD_TOKEN', secret(), 'the bot token from the Discord developer portal')!,
      appId: r.required('DISCORD_APP_ID', z.string().regex(/^\d{5,25}$/), 'the numeric application id')!,
      apiUrl: r.withDefault('DISCORD_API_URL', url, 'an http(s) URL, default https://discord.com/api', 'https://discord.com/api'),
      ...optionalField('guildId', r.optional('DISCORD_GUILD_ID', z.string().regex(/^\d{5,25}$/), 'a numeric guild (server) id')),
    };
  }

  const approvers = r.required('APPROVERS', idList.pipe(z.array(z.string().regex(/^[A-Za-z0-9]+$/)).min(1)), 'a comma-separated list of Slack user ids (U…), Slack user-group ids (S…) or Discord role ids') ?? [];
  const required = r.withDefault('APPROVALS_REQUIRED', intIn(1, 10), 'a whole number of approvals from 1 to 10, default 2', 2);
  const seniors = r.withDefault('SENIOR_APPROVERS', idList.pipe(z.array(z.string().regex(/^[A-Za-z0-9]+$/))), 'a comma-separated list of user or group ids', []);
  const approveEmoji = r.withDefault('APPROVE_EMOJI', emojiName, 'an emoji name such as white_check_mark', 'white_check_mark');
  const rejectEmoji = r.withDefault('REJECT_EMOJI', emojiName, 'an emoji name such as x', 'x');
  if (approveEmoji === rejectEmoji) r.problems.push('REJECT_EMOJI: expected an emoji different from APPROVE_EMOJI');

  const networks: Config['networks'] = {};
  if (r.group(['X_APP_KEY', 'X_APP_SECRET', 'X_ACCESS_TOKEN', 'X_ACCESS_SECRET'])) {
    networks.x = {
      appKey: r.raw('X_APP_KEY')!, appSecret: r.raw('X_APP_SECRET')!,
      accessToken: r.raw('X_ACCESS_TOKEN')!, accessSecret: r.raw('X_ACCESS_SECRET')!,
      apiUrl: r.withDefault('X_API_URL', url, 'an http(s) URL of the X API v2, default https://api.x.com/2/', 'https://api.x.com/2/'),
    };
  }
  if (r.group(['YOUTUBE_CLIENT_ID', 'YOUTUBE_CLIENT_SECRET', 'YOUTUBE_REFRESH_TOKEN'])) {
    networks.youtube = {
      clientId: r.raw('YOUTUBE_CLIENT_ID')!, clientSecret: r.raw('YOUTUBE_CLIENT_SECRET')!, refreshToken: r.raw('YOUTUBE_REFRESH_TOKEN')!,
      privacy: r.withDefault('YOUTUBE_PRIVACY', z.enum(['public', 'unlisted']), 'public or unlisted, default public', 'public'),
      apiUrl: r.withDefault('GOOGLE_API_URL', url, 'an http(s) URL, default https://youtube.googleapis.com/', 'https://youtube.googleapis.com/'),
      tokenUrl: r.withDefault('GOOGLE_TOKEN_URL', url, 'an http(s) URL, default https://oauth2.googleapis.com/token', 'https://oauth2.googleapis.com/token'),
    };
  }
  if (r.group(['FLICKR_API_KEY', 'FLICKR_API_SECRET', 'FLICKR_OAUTH_TOKEN', 'FLICKR_OAUTH_SECRET'])) {
    networks.flickr = {
      apiKey: r.raw('FLICKR_API_KEY')!, apiSecret: r.raw('FLICKR_API_SECRET')!,
      oauthToken: r.raw('FLICKR_OAUTH_TOKEN')!, oauthSecret: r.raw('FLICKR_OAUTH_SECRET')!,
      apiUrl: r.withDefault('FLICKR_API_URL', url, 'an http(s) URL, default https://api.flickr.com/services/rest', 'https://api.flickr.com/services/rest'),
      uploadUrl: r.withDefault('FLICKR_UPLOAD_URL', url, 'an http(s) URL, default https://up.flickr.com/services/upload', 'https://up.flickr.com/services/upload'),
    };
  }
  if (r.group(['FACEBOOK_PAGE_ID', 'FACEBOOK_PAGE_TOKEN'])) {
    networks.facebook = {
      pageId: r.required('FACEBOOK_PAGE_ID', z.string().regex(/^\d+$/), 'the numeric id of the Facebook Page') ?? '',
      pageToken: r.raw('FACEBOOK_PAGE_TOKEN')!,
      graphUrl: r.withDefault('FACEBOOK_GRAPH_URL', url, 'an http(s) URL, default https://graph.facebook.com/v25.0', 'https://graph.facebook.com/v25.0'),
    };
  }

  const refreshSeconds = r.withDefault('REACH_REFRESH_SECONDS', intIn(10, 86_400), 'a number of seconds from 10 to 86400, default 60', 60);
  const stopAfterDays = r.withDefault('REACH_STOP_DAYS', intIn(1, 365), 'a number of days from 1 to 365, default 14', 14);
  const xReadBudget = r.optional('X_READ_BUDGET', intIn(1, 1_000_000_000), 'a whole number of X posts read per month');
  const cron = r.optional('REPORT_CRON', z.string().regex(/^\S+(\s+\S+){4,5}$/).refine(isCronExpression), 'a cron expression of 5 fields (or 6 with seconds first), e.g. "0 8 * * *" for 08:00 daily');
  const channel = r.optional('REPORT_CHANNEL', z.string().regex(/^[A-Z0-9]+$|^\d+$/), 'a channel id (e.g. C0123ABCD), not a #name');
  const timeZone = r.withDefault('TZ', z.string().refine(isTimeZone), 'an IANA time zone such as Europe/London', 'UTC');
  if (cron && !channel) r.problems.push('REPORT_CHANNEL: required when REPORT_CRON is set');

  const imageMaxMb = r.withDefault('IMAGE_MAX_MB', intIn(1, 200), 'a size in megabytes from 1 to 200, default 25', 25);
  // Footage is kept base64 in the store until published (a string; Redis values stop at 512 MB).
  const videoMaxMb = r.withDefault('VIDEO_MAX_MB', intIn(1, 256), 'a size in megabytes from 1 to 256, default 100', 100);
  const ffmpegPath = r.optional('FFMPEG_PATH', z.string().min(1), 'the path of an ffmpeg binary (default: the one npm installs)');
  const downloadTimeoutSeconds = r.withDefault('DOWNLOAD_TIMEOUT_SECONDS', intIn(1, 600), 'a number of seconds from 1 to 600, default 30', 30);

  if (r.problems.length > 0) throw new ConfigError(r.problems);

  return {
    port, logLevel, storeUrl,
    ...(slack ? { slack } : {}),
    ...(discord ? { discord } : {}),
    approval: { approvers, required, seniors, approveEmoji, rejectEmoji },
    networks,
    reach: { refreshSeconds, stopAfterDays, ...optionalField('xReadBudget', xReadBudget) },
    reports: { ...optionalField('cron', cron), ...optionalField('channel', channel), timeZone },
    media: { imageMaxBytes: imageMaxMb * 1024 * 1024, videoMaxBytes: videoMaxMb * 1024 * 1024, ...optionalField('ffmpegPath', ffmpegPath), downloadTimeoutMs: downloadTimeoutSeconds * 1000 },
    ...(rehearsal ? { rehearsal } : {}),
  };
}

/**
 * REHEARSAL, REHEARSAL_FAILURES and REHEARSAL_PUBLIC_URL. The failures list only makes sense
 * in a rehearsal: set without REHEARSAL=1 it is refused, since someone who thinks they are
 * rehearsing would be publishing for real.
 */
function readRehearsal(r: Reader): RehearsalConfig | undefined {
  const on = r.optional('REHEARSAL', truthy, '1 (rehearsal mode: every network is simulated, nothing is published) or 0');
  const names = NETWORKS.join(', ');
  const failures = r.optional('REHEARSAL_FAILURES', idList.transform((xs) => xs.map((x) => x.toLowerCase())), `a comma-separated list of ${names}`) ?? [];
  const unknown = failures.filter((n) => !isNetworkName(n));
  if (unknown.length > 0) {
    r.problems.push(`REHEARSAL_FAILURES: expected a comma-separated list of ${names} (${unknown.map((n) => JSON.stringify(n)).join(', ')} ${unknown.length === 1 ? 'is not one' : 'are not'})`);
  }
  const publicUrl = r.optional('REHEARSAL_PUBLIC_URL', url, 'the http(s) address where the room opens the public-side view, e.g. https://loudhailer.example.org/rehearsal');
  if (on !== true) {
    // Off (or unset). A malformed REHEARSAL is reported above, once.
    const malformed = r.has('REHEARSAL') && on === undefined;
    if (!malformed && r.has('REHEARSAL_FAILURES')) r.problems.push('REHEARSAL_FAILURES: only with REHEARSAL=1 (without it every network is real and appeals are really published)');
    if (!malformed && r.has('REHEARSAL_PUBLIC_URL')) r.problems.push('REHEARSAL_PUBLIC_URL: only with REHEARSAL=1');
    return undefined;
  }
  return {
    failures: NETWORKS.filter((n) => failures.includes(n)),
    ...(publicUrl ? { publicUrl } : {}),
  };
}

function optionalField<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The networks that have credentials configured, in canonical order. */
export function enabledNetworks(config: Config): NetworkName[] {
  return NETWORKS.filter((n) => config.networks[n] !== undefined);
}

/** A loggable summary: which platforms are on, never a secret. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    port: config.port,
    store: redactUrl(config.storeUrl),
    slack: config.slack ? { mode: config.slack.appToken ? 'socket' : 'http', apiUrl: config.slack.apiUrl } : 'off',
    discord: config.discord ? 'on' : 'off',
    approvers: config.approval.approvers.length,
    approvalsRequired: config.approval.required,
    seniorApprovers: config.approval.seniors.length,
    networks: config.rehearsal ? 'all simulated (REHEARSAL=1)' : enabledNetworks(config),
    ...(config.rehearsal ? { rehearsal: { failures: config.rehearsal.failures, ignoredCredentials: enabledNetworks(config) } } : {}),
  };
}

