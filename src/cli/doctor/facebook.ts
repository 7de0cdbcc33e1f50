/**
 * Facebook, through the adapter's Graph choke point (fetch at FACEBOOK_GRAPH_URL, the token in
 * a header; one try):
 *
 * 1. `GET /me?fields=id,name&metadata=1` with FACEBOOK_PAGE_TOKEN: a Page token answers the
 *    Page, which must be FACEBOOK_PAGE_ID. A user token answers the user (`metadata.type`
 *    "user"): the classic mistake of pasting the Graph Explorer's user token.
 * 2. The permissions, by the cheapest reads the bot's own work needs, both edges of Page.json:
 *    `GET /{page-id}/published_posts?limit=1` (pages_read_engagement: the adapter finds its
 *    posts there) and `GET /{page-id}/insights?metric=page_post_engagements` (read_insights:
 *    reach). `/me/permissions` answers only for user tokens, and `debug_token` is not in the
 *    Page specs (it wants an app token or a developer's user token), so neither is used.
 *    Posting (pages_manage_posts) and comments (pages_manage_engagement) have no read to
 *    test them by: they show on the first post.
 */
import type { FacebookConfig } from '../../config.js';
import { NetworkError } from '../../core/ports.js';
import { createGraph, GraphApiError, GraphTransportError } from '../../platforms/facebook/graph.js';
import { hostOf, ok, problem, silentLogger, unreachable, type CheckContext, type Verdict } from './verdict.js';

const EXCHANGE = 'run `loudhailer auth facebook` to exchange it';

interface Me { id?: string; name?: string; metadata?: { type?: string } }

export async function checkFacebook(config: FacebookConfig, ctx: CheckContext): Promise<Verdict> {
  ctx.host = hostOf(config.graphUrl);
  const graph = createGraph({
    config, logger: silentLogger, sleep: async () => undefined, now: Date.now,
    maxRateLimitWaitMs: 0, maxAttempts: 1, timeoutMs: ctx.requestTimeoutMs,
  });
  let me: Me;
  try {
    me = await graph<Me>({ method: 'GET', path: 'me', params: { fields: 'id,name', metadata: 1 } }, { idempotent: true, what: 'the Page check' });
  } catch (err) {
    return explain(err, config, ctx);
  }
  const page = config.pageId;
  const name = me.name ? `"${me.name}"` : 'an unnamed account';
  if (me.id !== page) {
    const type = me.metadata?.type;
    if (type === 'user') return problem(`FACEBOOK_PAGE_TOKEN is a user token, not a page token: ${EXCHANGE} (it belongs to ${name})`);
    if (type === 'page') {
      return problem(`FACEBOOK_PAGE_TOKEN belongs to another Page, ${name} (${me.id}), not FACEBOOK_PAGE_ID ${page}: run \`loudhailer auth facebook\` and pick the force's Page, or correct FACEBOOK_PAGE_ID`);
    }
    return problem(`FACEBOOK_PAGE_TOKEN belongs to ${name} (${me.id ?? '?'}), not the Page FACEBOOK_PAGE_ID ${page}: if that is a person, it is a user token, not a page token: ${EXCHANGE}`);
  }

  const [posts, insights] = await Promise.allSettled([
    graph({ method: 'GET', path: `${page}/published_posts`, params: { limit: 1, fields: 'id' } },
      { idempotent: true, what: 'reads of the Page\'s posts', permission: 'pages_read_engagement' }),
    graph({ method: 'GET', path: `${page}/insights`, params: { metric: 'page_post_engagements', period: 'day' } },
      { idempotent: true, what: 'insights reads', permission: 'read_insights' }),
  ]);
  const problems: string[] = [];
  const notes: string[] = [];
  for (const [result, what] of [[posts, 'posts'], [insights, 'insights']] as const) {
    if (result.status === 'fulfilled') {
      notes.push(what);
      continue;
    }
    const err = result.reason as unknown;
    if (!(err instanceof NetworkError)) throw err;
    if (err.cause instanceof GraphTransportError || err.code === 'rate_limited' || err.code === 'unavailable') return explain(err, config, ctx);
    // A metric Facebook no longer knows is not a missing permission: the bot reads post_media_view anyway.
    if (what === 'insights' && err.code === 'invalid') {
      notes.push('insights (page_post_engagements refused as a metric, not for permission)');
      continue;
    }
    problems.push(err.code === 'forbidden' ? `${err.userMessage} (\`loudhailer auth facebook\` issues one)` : err.userMessage);
  }
  const who = `${name} (Page ${page})`;
  if (problems.length > 0) return problem(`${who}, but ${problems.join('; and ')}`);
  return ok(`${who}, a page token; reads ${notes.join(' and ')} (posting, pages_manage_posts, shows on the first post)`);
}

function explain(err: unknown, config: FacebookConfig, ctx: CheckContext): Verdict {
  if (!(err instanceof NetworkError)) throw err;
  const cause = err.cause;
  if (cause instanceof GraphTransportError) {
    if (cause.errno === undefined && /not JSON/.test(cause.message)) {
      return problem(`${ctx.host} answered something that is not Graph's JSON: is FACEBOOK_GRAPH_URL (${config.graphUrl}) the Graph API?`);
    }
    return unreachable(ctx.host, cause.errno ?? (/no answer within/.test(cause.message) ? 'ETIMEDOUT' : undefined), ctx.timeoutMs, 'FACEBOOK_GRAPH_URL');
  }
  if (err.code === 'rate_limited') return problem(`${err.userMessage}: run the doctor again then (the token was not checked)`);
  if (err.code === 'unavailable') return problem(`Facebook is having problems (HTTP ${err.status ?? '?'}): try again later (the token was not checked)`);
  if (err.code === 'auth') {
    const sub = cause instanceof GraphApiError ? cause.error.subcode : undefined;
    const why = sub === 463 || sub === 467 ? 'expired' : sub === 460 ? 'invalidated by a password change' : sub === 458 ? 'the app was removed' : 'expired, revoked or mistyped';
    return problem(`Facebook refused FACEBOOK_PAGE_TOKEN (${why}): run \`loudhailer auth facebook\` for a new long-lived page token`);
  }
  return problem(`Facebook refused the Page check: ${err.userMessage}`);
}
