/**
 * The environment, read for the doctor. `loadConfig` is the one judge of every setting, but
 * it stops at the first broken configuration; the doctor must still check what it can. So:
 *
 * - the whole environment goes through `loadConfig` once, for the list of problems (what
 *   `npm start` would refuse, one line per variable);
 * - each platform goes through `loadConfig` again on its own: its variables only, plus
 *   harmless stand-ins for the settings every configuration needs (APPROVERS, a Slack token
 *   pair when checking a network). Its own problems then stop its check alone, and what it
 *   gets is exactly the config object the bot would build (defaults and URL overrides included).
 *
 * The stand-ins never leave this file: only the platform's own part of the result is used.
 */
import { ConfigError, loadConfig, type Config, type FacebookConfig, type FlickrConfig, type SlackConfig, type XConfig, type YouTubeConfig } from '../../config.js';

type Env = Record<string, string | undefined>;

/** A platform's settings: not configured, broken (the variables at fault), or ready to check. */
export type Part<T> =
  | { kind: 'off' }
  | { kind: 'broken'; variables: string[] }
  | { kind: 'ready'; config: T };

export interface DoctorSettings {
  /** What loadConfig refuses in the whole environment, one line each (never a secret's value). */
  problems: string[];
  slack: Part<SlackConfig & { reportChannel?: string }>;
  x: Part<XConfig>;
  youtube: Part<YouTubeConfig>;
  flickr: Part<FlickrConfig>;
  facebook: Part<FacebookConfig>;
  /** DISCORD_TOKEN or DISCORD_APP_ID set. */
  discord: boolean;
  store: Part<{ url: string }>;
  rehearsal: boolean;
}

export const SLACK_VARIABLES = ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN'] as const;
export const X_VARIABLES = ['X_APP_KEY', 'X_APP_SECRET', 'X_ACCESS_TOKEN', 'X_ACCESS_SECRET'] as const;
export const YOUTUBE_VARIABLES = ['YOUTUBE_CLIENT_ID', 'YOUTUBE_CLIENT_SECRET', 'YOUTUBE_REFRESH_TOKEN'] as const;
export const FLICKR_VARIABLES = ['FLICKR_API_KEY', 'FLICKR_API_SECRET', 'FLICKR_OAUTH_TOKEN', 'FLICKR_OAUTH_SECRET'] as const;
export const FACEBOOK_VARIABLES = ['FACEBOOK_PAGE_ID', 'FACEBOOK_PAGE_TOKEN'] as const;

/** Stand-ins for what every configuration needs; valid, and never sent anywhere. */
const NEEDED = { APPROVERS: 'UDOCTOR' };
const SLACK_STAND_IN = { SLACK_BOT_TOKEN: 'xoxb-doctor-stand-in', SLACK_APP_TOKEN: 'xapp-doctor-stand-in' };

const isSet = (env: Env, name: string) => (env[name]?.trim() ?? '') !== '';

function pick(env: Env, names: readonly string[]): Env {
  const out: Env = {};
  for (const n of names) if (env[n] !== undefined) out[n] = env[n];
  return out;
}

/** The variable names a problem line is about ("X_API_URL: expected …" → X_API_URL). */
function variablesOf(problems: string[]): string[] {
  return [...new Set(problems.map((p) => /^([A-Z][A-Z0-9_]*):/.exec(p)?.[1]).filter((v): v is string => v !== undefined))];
}

function part<T>(env: Env, stand: Env, own: readonly string[], take: (c: Config) => T | undefined): Part<T> {
  let config: Config;
  try {
    config = loadConfig({ ...stand, ...pick(env, own) });
  } catch (err) {
    if (err instanceof ConfigError) return { kind: 'broken', variables: variablesOf(err.problems) };
    throw err;
  }
  const taken = take(config);
  return taken === undefined ? { kind: 'off' } : { kind: 'ready', config: taken };
}

export function readSettings(env: Env): DoctorSettings {
  let problems: string[] = [];
  try {
    loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }

  // REPORT_CHANNEL on its own: a malformed one is a Config line, and the token is still checked.
  const channel = part(env, { ...NEEDED, ...SLACK_STAND_IN }, ['REPORT_CHANNEL'], (c) => c.reports.channel);
  const reportChannel = channel.kind === 'ready' ? { reportChannel: channel.config } : {};
  const slackOn = SLACK_VARIABLES.some((n) => isSet(env, n));
  const slack: DoctorSettings['slack'] = !slackOn
    ? { kind: 'off' }
    : part(env, NEEDED, [...SLACK_VARIABLES, 'SLACK_API_URL'], (c) => (c.slack ? { ...c.slack, ...reportChannel } : undefined));
  const network = <T>(names: readonly string[], urls: string[], take: (c: Config) => T | undefined): Part<T> =>
    names.some((n) => isSet(env, n)) ? part(env, { ...NEEDED, ...SLACK_STAND_IN }, [...names, ...urls], take) : { kind: 'off' };

  return {
    problems,
    slack,
    x: network(X_VARIABLES, ['X_API_URL'], (c) => c.networks.x),
    youtube: network(YOUTUBE_VARIABLES, ['YOUTUBE_PRIVACY', 'GOOGLE_API_URL', 'GOOGLE_TOKEN_URL'], (c) => c.networks.youtube),
    flickr: network(FLICKR_VARIABLES, ['FLICKR_API_URL', 'FLICKR_UPLOAD_URL'], (c) => c.networks.flickr),
    facebook: network(FACEBOOK_VARIABLES, ['FACEBOOK_GRAPH_URL'], (c) => c.networks.facebook),
    discord: isSet(env, 'DISCORD_TOKEN') || isSet(env, 'DISCORD_APP_ID'),
    store: part(env, { ...NEEDED, ...SLACK_STAND_IN }, ['STORE_URL', 'REHEARSAL'], (c) => ({ url: c.storeUrl })),
    rehearsal: /^(1|true|yes|on)$/i.test(env.REHEARSAL?.trim() ?? ''),
  };
}
