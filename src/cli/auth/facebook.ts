/**
 * `loudhailer auth facebook`: a Page token that does not expire, from a short-lived user token.
 *
 * 1. The user token (FACEBOOK_USER_TOKEN, or pasted: Graph API Explorer → the app → "Get User
 *    Access Token" with the Page permissions) is exchanged for a long-lived one:
 *    `GET /oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token`
 *    (FACEBOOK_APP_ID / FACEBOOK_APP_SECRET, from the environment or asked).
 * 2. `GET /me/accounts` with it lists the Pages the user manages, each with its Page token; a
 *    Page token obtained from a long-lived user token has no expiry.
 * 3. The Page is FACEBOOK_PAGE_ID when set, the only one, or the one picked from the list;
 *    FACEBOOK_PAGE_ID and FACEBOOK_PAGE_TOKEN are printed.
 *
 * Graph base: FACEBOOK_GRAPH_URL. Tokens travel in the Authorization header, except in the
 * exchange, which Graph takes as a GET with query parameters; no URL is ever printed.
 */
import { AuthFailure, fetchOrUnreachable, textOrUnreachable, type EnvLine, type Session } from './common.js';

export const FACEBOOK_GRAPH_URL = 'https://graph.facebook.com/v25.0';
const EXPLORER = 'https://developers.facebook.com/tools/explorer/';
const APP_SETTINGS = 'the app dashboard (https://developers.facebook.com/apps/) → App settings → Basic';
/** What the bot does with the Page, by permission (the user token needs them all). */
export const PAGE_PERMISSIONS = ['pages_show_list', 'pages_manage_posts', 'pages_read_engagement', 'pages_manage_engagement', 'read_insights'] as const;
const MAX_PAGES_READ = 10;

interface GraphErrorBody { error?: { message?: unknown; type?: unknown; code?: unknown; error_subcode?: unknown } }
interface PageEntry { id?: unknown; name?: unknown; access_token?: unknown; tasks?: unknown }
interface Page { id: string; name: string; token: string; tasks?: string[] }

type Step = 'exchange' | 'accounts';

export async function facebookAuth(s: Session): Promise<EnvLine[]> {
  const rawGraph = s.url('FACEBOOK_GRAPH_URL', FACEBOOK_GRAPH_URL);
  const graph = rawGraph.replace(/\/+$/, '');
  s.say('Facebook: a Page token that does not expire, made from a short-lived user token.');
  s.say(`You need the app's ID and secret (${APP_SETTINGS}) and a user token from the Graph API Explorer (${EXPLORER}): pick the app, "Get User Access Token" with ${PAGE_PERMISSIONS.join(', ')}, and allow the Page.`);
  const appId = await s.value('FACEBOOK_APP_ID', 'App ID', { check: (v) => (/^\d{5,25}$/.test(v) ? undefined : 'the App ID is a number') });
  const appSecret = await s.value('FACEBOOK_APP_SECRET', 'App secret', { secret: true, check: (v) => (/\s/.test(v) ? 'it has spaces in it' : undefined) });
  const userToken = await s.value('FACEBOOK_USER_TOKEN', 'User access token', { secret: true, check: (v) => (/\s/.test(v) ? 'it has spaces in it' : undefined) });
  const wanted = s.setting('FACEBOOK_PAGE_ID');
  if (wanted !== undefined && !/^\d+$/.test(wanted)) throw new AuthFailure('FACEBOOK_PAGE_ID: expected the numeric id of the Facebook Page', 2);

  // 1. Long-lived user token.
  const exchange = new URL(`${graph}/oauth/access_token`);
  exchange.searchParams.set('grant_type', 'fb_exchange_token');
  exchange.searchParams.set('client_id', appId);
  exchange.searchParams.set('client_secret', appSecret);
  exchange.searchParams.set('fb_exchange_token', userToken);
  const long = await graphGet<{ access_token?: unknown; expires_in?: unknown }>(s, 'exchange', exchange.toString(), undefined);
  if (typeof long.access_token !== 'string' || long.access_token === '') throw new AuthFailure('Facebook\'s answer to the token exchange had no token in it. Try again in a few minutes.');
  const longToken = s.secret(long.access_token);
  const days = typeof long.expires_in === 'number' ? Math.round(long.expires_in / 86_400) : undefined;
  s.say(`Exchanged the user token for a long-lived one${days ? ` (${days} days)` : ''}.`);

  // 2. The Pages it manages.
  const pages: Page[] = [];
  let next: string | undefined = `${graph}/me/accounts?fields=id,name,access_token,tasks&limit=100`;
  for (let i = 0; next && i < MAX_PAGES_READ; i++) {
    const answer: { data?: unknown; paging?: { next?: unknown } } = await graphGet(s, 'accounts', next, longToken);
    for (const entry of Array.isArray(answer.data) ? (answer.data as PageEntry[]) : []) {
      if (typeof entry.id !== 'string' || typeof entry.access_token !== 'string') continue;
      s.secret(entry.access_token);
      pages.push({
        id: entry.id, name: typeof entry.name === 'string' ? entry.name : '(no name)', token: entry.access_token,
        ...(Array.isArray(entry.tasks) ? { tasks: entry.tasks.filter((t): t is string => typeof t === 'string') } : {}),
      });
    }
    const n = answer.paging?.next;
    // Follow Graph's own paging only on the same host (the link carries the token).
    next = typeof n === 'string' && sameOrigin(n, graph) ? n : undefined;
  }
  if (pages.length === 0) {
    throw new AuthFailure(`this Facebook user manages no Page this token can see: in the Graph API Explorer, ask for ${PAGE_PERMISSIONS.join(', ')} and tick the Page when Facebook asks which Pages the app may use, then run \`loudhailer auth facebook\` again.`);
  }

  // 3. The Page.
  const page = await choosePage(s, pages, wanted);
  const tasks = page.tasks;
  if (tasks && !tasks.includes('CREATE_CONTENT')) {
    s.say(`Note: your role on "${page.name}" can't create content (tasks: ${tasks.join(', ') || 'none'}); the bot won't be able to post until a Page admin gives you that.`);
  }
  s.say(`Page: ${page.name} (${page.id}). Its token, made from a long-lived user token, does not expire (it stops working if you lose your role on the Page, change your password, or remove the app).`);
  return [['FACEBOOK_PAGE_ID', page.id], ['FACEBOOK_PAGE_TOKEN', page.token]];
}

async function choosePage(s: Session, pages: Page[], wanted: string | undefined): Promise<Page> {
  const list = () => pages.map((p, i) => `  ${i + 1}. ${p.name} (${p.id})`).join('\n');
  if (wanted !== undefined) {
    const page = pages.find((p) => p.id === wanted);
    if (!page) throw new AuthFailure(`the user token has no access to the Page FACEBOOK_PAGE_ID=${wanted}. The Pages it can use:\n${list()}\nUnset FACEBOOK_PAGE_ID to choose among them, or give the token access to that Page.`);
    return page;
  }
  if (pages.length === 1) return pages[0]!;
  s.say(`This user manages ${pages.length} Pages:`);
  for (const line of list().split('\n')) s.say(line);
  const pick = (v: string): Page | undefined => (/^\d{1,3}$/.test(v) ? pages[Number(v) - 1] : undefined) ?? pages.find((p) => p.id === v);
  const answer = await s.ask('Which Page does the bot post to? (its number or id)', {
    check: (v) => (pick(v) ? undefined : `pick a number from 1 to ${pages.length}, or one of the ids`),
  });
  return pick(answer)!;
}

function sameOrigin(url: string, base: string): boolean {
  try {
    return new URL(url).origin === new URL(base).origin;
  } catch {
    return false;
  }
}

/** One Graph GET; its JSON, or a plain reason. The URL (it may hold a secret) is never shown. */
async function graphGet<T>(s: Session, step: Step, url: string, token: string | undefined): Promise<T> {
  const res = await fetchOrUnreachable(s, url, { method: 'GET', headers: token ? { authorization: `Bearer ${token}` } : {} }, 'FACEBOOK_GRAPH_URL');
  const text = await textOrUnreachable(s, url, res, 'FACEBOOK_GRAPH_URL');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AuthFailure(`Facebook answered HTTP ${res.status} with something that isn't JSON${res.status >= 500 ? ': try again in a few minutes' : ' (is FACEBOOK_GRAPH_URL right?)'}.`);
  }
  const error = (body as GraphErrorBody | null)?.error;
  if (res.status >= 400 || (typeof error === 'object' && error !== null)) throw new AuthFailure(graphFailure(s, step, res.status, error ?? {}));
  return body as T;
}

function graphFailure(s: Session, step: Step, status: number, error: NonNullable<GraphErrorBody['error']>): string {
  const code = typeof error.code === 'number' ? error.code : undefined;
  const subcode = typeof error.error_subcode === 'number' ? error.error_subcode : undefined;
  const message = typeof error.message === 'string' ? s.redact(error.message).slice(0, 200) : '';
  const said = ` (Facebook: ${code !== undefined ? `code ${code}${subcode !== undefined ? `/${subcode}` : ''}` : `HTTP ${status}`}${message ? `, "${message}"` : ''})`;
  if (code !== undefined && [4, 17, 32, 613, 80001].includes(code)) return `Facebook's rate limit was reached${said}: try again in an hour.`;
  if (status >= 500 || (code === 1 && /unknown error|temporar/i.test(message)) || code === 2) return `Facebook answered HTTP ${status}${said}: try again in a few minutes.`;
  if (step === 'exchange') {
    if (code === 101 || (code !== 190 && /client secret|application|app id|client_id/i.test(message))) {
      return `Facebook refused the app's ID or secret${said}: check FACEBOOK_APP_ID and FACEBOOK_APP_SECRET in ${APP_SETTINGS}.`;
    }
    if (code === 190 || code === 102) {
      return `Facebook refused the user token${said}: it expired, was revoked, was mistyped, or belongs to another app. Get a fresh one from the Graph API Explorer (${EXPLORER}) and run \`loudhailer auth facebook\` again.`;
    }
    return `Facebook refused the token exchange${said}.`;
  }
  if (code === 190 || code === 102) return `Facebook refused the long-lived user token${said}. Get a fresh user token from the Graph API Explorer (${EXPLORER}) and run \`loudhailer auth facebook\` again.`;
  if (code === 10 || (code !== undefined && code >= 200 && code < 300)) {
    return `Facebook won't list the user's Pages${said}: the user token needs pages_show_list (and ${PAGE_PERMISSIONS.slice(1).join(', ')} for the bot).`;
  }
  return `Facebook refused to list the user's Pages${said}.`;
}
