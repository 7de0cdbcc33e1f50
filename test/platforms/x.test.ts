/**
 * The X adapter: the Network contract against the fake X, then what is particular to X
 * (OAuth signatures, X's limits, lost answers, the account's timeline, the 24-hour cap).
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { XConfig } from '../../src/config.js';
import { NetworkError, type Network } from '../../src/core/ports.js';
import { createX, type XDeps } from '../../src/platforms/x/index.js';
import { DUPLICATE_DETAIL, REPLY_TO_DELETED_DETAIL, startFakeX, type FakeX, type FakeXOptions, type XRoute } from '../fakes/x.js';
import { plainPng } from '../helpers/images.js';
import { captureLogger, freshReference, mediaFile, networkContract, rejection, request, type FakeNetworkControl, type NetworkOp, type ScriptedFailure } from './contract.js';

const CREDS = {
  appKey: 'x-test-consumer-key',
  appSecret: 'x-test-consumer-secret-SECRET1',
  accessToken: '1500000000000000001-x-test-access-token-SECRET2',
  accessSecret: 'x-test-access-secret-SECRET3',
};
const SECRETS = [CREDS.appSecret, CREDS.accessToken, CREDS.accessSecret];

function config(fake: FakeX, overrides: Partial<XConfig> = {}): XConfig {
  return { ...CREDS, apiUrl: fake.url, ...overrides };
}

const ROUTE_OP: Record<XRoute, NetworkOp> = {
  me: 'account', mediaInit: 'upload', mediaAppend: 'upload', mediaFinalize: 'upload', mediaStatus: 'upload', mediaUpload: 'upload',
  createPost: 'publish', reply: 'reply', lookup: 'reach', delete: 'withdraw', timeline: 'find',
};
const OP_ROUTE: Record<NetworkOp, XRoute> = {
  account: 'me', upload: 'mediaAppend', publish: 'createPost', reach: 'lookup', find: 'timeline', withdraw: 'delete', reply: 'reply',
};

/** The contract's generic handle on the fake X. */
export function xControl(fake: FakeX): FakeNetworkControl {
  return {
    publishedPosts: () => fake.livePosts().filter((p) => p.inReplyTo === undefined)
      .map((p) => ({ id: p.id, text: p.text, media: p.mediaIds.map((id) => fake.mediaById(id)!.bytes) })),
    replies: (postId) => fake.replies(postId).map((p) => ({ id: p.id, text: p.text })),
    setViews: (id, n) => fake.setImpressions(id, n),
    failNext: (op: NetworkOp, f: ScriptedFailure) => {
      const route = OP_ROUTE[op];
      if (f.kind === 'server') fake.failNext(route, { status: f.status ?? 503, times: f.times ?? 1, commit: f.commit ?? false });
      if (f.kind === 'auth') fake.failNext(route, { status: 401, body: { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' } });
      if (f.kind === 'duplicate') fake.failNext(route, { status: 403, body: { title: 'Forbidden', type: 'about:blank', status: 403, detail: DUPLICATE_DETAIL } });
      if (f.kind === 'invalid') {
        fake.failNext(route, {
          status: 400,
          body: { errors: [{ parameters: { text: [] }, message: 'text is invalid' }], title: 'Invalid Request', detail: 'One or more parameters to your request was invalid.', type: 'https://api.twitter.com/2/problems/invalid-request' },
        });
      }
    },
    rateLimitNext: (op, seconds) => fake.rateLimitNext(OP_ROUTE[op], { resetInSeconds: seconds }),
    ops: () => fake.requests.filter((r) => r.route).map((r) => ({ op: ROUTE_OP[r.route!], status: r.status })),
    close: () => fake.close(),
  };
}

networkContract('x', async ({ logger, sleep }) => {
  const fake = await startFakeX(CREDS);
  return {
    network: createX(config(fake), { logger, sleep }),
    fake: xControl(fake),
    secrets: SECRETS,
    unknownPostId: '1234567890123456789',
    reachKind: 'views',
  };
});

describe('X adapter', () => {
  const fakes: FakeX[] = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });

  async function setup(opts: FakeXOptions = {}, deps: Partial<XDeps> = {}, cfg: Partial<XConfig> = {}) {
    const fake = await startFakeX({ ...CREDS, ...opts });
    fakes.push(fake);
    const logger = captureLogger();
    const sleeps: number[] = [];
    const x = createX(config(fake, cfg), { logger, sleep: async (ms) => { sleeps.push(ms); }, ...deps });
    return { fake, x, logger, sleeps };
  }

  const appeal = (words: string, ref = freshReference()) => request(`${words} Call 101.\n\n${ref}`, ref);


  function expectNoSecrets(...things: unknown[]): void {
    const text = things.map((t) => inspect(t, { depth: 10 })).join('\n');
    for (const s of SECRETS) expect(text.includes(s), 'a secret leaked').toBe(false);
  }

  it('checks the fence right before creating the post, also after a rate-limit wait, and lets its error through', async () => {
    let lost = false;
    const { fake, x } = await setup({}, { sleep: async () => { lost = true; } });
    fake.rateLimitNext('createPost', { resetInSeconds: 1 });
    class Fenced extends Error {}
    const req = { ...appeal('Fenced appeal.'), fence: () => { if (lost) throw new Fenced('lease lost'); } };
    await expect(x.publish(req)).rejects.toBeInstanceOf(Fenced);
    expect(fake.createCalls).toBe(1); // the 429; nothing after the wait
    expect(fake.posts).toHaveLength(0);
  });

  it('is named x and reads reach 100 at a time', async () => {
    const { x } = await setup();
    expect(x.name).toBe('x');
    expect(x.reachBatchSize).toBe(100);
  });

  it('really is checked by OAuth signature: a wrong consumer or access secret → auth, naming the settings', async () => {
    for (const wrong of [{ appSecret: 'not-the-secret' }, { accessSecret: 'not-the-secret' }]) {
      const { fake: f, x } = await setup({}, {}, wrong);
      const err = await rejection(x.publish(appeal('Appeal with bad credentials.')));
      expect(err.code).toBe('auth');
      expect(err.permanent).toBe(true);
      expect(err.status).toBe(401);
      expect(err.userMessage).toBe("X refused the account's credentials: check X_ACCESS_TOKEN and X_ACCESS_SECRET (and X_APP_KEY and X_APP_SECRET)");
      expect(f.requests).toHaveLength(1); // users/me refused, nothing uploaded or posted, no retry
      expect(f.requests[0]!.authError).toBe('signature mismatch');
      expectNoSecrets(err, err.userMessage);
      expect((await rejection(x.reach(['1500000000000000002']))).code).toBe('auth');
    }
  });

  it('logs each call at debug as METHOD url - status, and never the Authorization header', async () => {
    const { x, logger, fake: f } = await setup();
    const post = await x.publish(appeal('Logged appeal.'));
    await x.reach([post.postId]);
    const messages = logger.lines.filter((l) => l.level === 'debug').map((l) => l.msg);
    expect(messages).toContain(`GET ${f.url}users/me - 200`);
    expect(messages).toContain(`POST ${f.url}tweets - 201`);
    expect(messages.some((m) => m?.startsWith(`GET ${f.url}tweets?ids=${post.postId}`) && m.endsWith(' - 200'))).toBe(true);
    const all = inspect(logger.lines, { depth: 10 });
    expect(all).not.toMatch(/oauth_signature|OAuth oauth|authorization/i);
    expectNoSecrets(logger.lines);
  });

  it('links posts as https://x.com/<username>/status/<id>, or the generic link without the account', async () => {
    const { x, fake: f } = await setup();
    const post = await x.publish(appeal('Linked appeal.'));
    expect(post.url).toBe(`https://x.com/${f.user.username}/status/${post.postId}`);
    expect(post.extra).toEqual({ media: [] });

    const other = await setup({}, { maxAttempts: 2 });
    other.fake.failNext('me', { status: 503, times: 2 });
    const p2 = await other.x.publish(appeal('Appeal while users/me is down.'));
    expect(p2.url).toBe(`https://x.com/i/web/status/${p2.postId}`);
    expect(f.livePosts()).toHaveLength(1);
  });

  it('uploads images with the v2 chunked upload (tweet_image), and attaches them', async () => {
    const { x, fake: f } = await setup();
    const big = Buffer.alloc(2.5 * 1024 * 1024, 7);
    big.set([0xff, 0xd8, 0xff, 0xe0]);
    const post = await x.publish({ ...appeal('Appeal with a large still.'), media: [mediaFile(big, 'image/jpeg', 'big.jpg')] });
    const m = f.mediaById(f.post(post.postId)!.mediaIds[0]!)!;
    expect(m).toMatchObject({ mediaType: 'image/jpeg', category: 'tweet_image', finalized: true, via: 'chunked', totalBytes: big.length });
    expect(m.segments.size).toBe(3);
    expect(m.bytes.equals(big)).toBe(true);
    expect(post.extra).toEqual({ media: [m.id] });
    expect(f.requests.at(-1)!.body).toEqual({ text: expect.stringContaining('large still'), media: { media_ids: [m.id] } });
  });

  it('polls STATUS while X processes an image, waiting check_after_secs through the injected sleep', async () => {
    const { x, fake: f, sleeps } = await setup({ processingPolls: 2 });
    const post = await x.publish({ ...appeal('Appeal with processing.'), media: [mediaFile(Buffer.from('fake-png-bytes'), 'image/png', 'a.png')] });
    expect(f.requestsTo('mediaStatus')).toHaveLength(2);
    expect(sleeps).toEqual([1000, 1000]);
    expect(f.post(post.postId)!.mediaIds).toHaveLength(1);
  });

  it('refuses images over 5 MB, non-images and a fifth image before sending anything', async () => {
    const { x, fake: f } = await setup();
    const tooBig = mediaFile(Buffer.alloc(5 * 1024 * 1024 + 1), 'image/jpeg', 'huge.jpg');
    const err = await rejection(x.publish({ ...appeal('Too big.'), media: [tooBig] }));
    expect(err).toMatchObject({ code: 'invalid', permanent: true });
    expect(err.userMessage).toMatch(/"huge\.jpg" is 5\.0 MB; X takes images up to 5 MB/);
    const pdf = mediaFile(Buffer.from('%PDF-1.4'), 'application/pdf', 'doc.pdf');
    expect((await rejection(x.publish({ ...appeal('Not an image.'), media: [pdf] }))).code).toBe('invalid');
    const small = mediaFile(Buffer.from('x'), 'image/png', 'p.png');
    expect((await rejection(x.publish({ ...appeal('Five images.'), media: [small, small, small, small, small] }))).code).toBe('invalid');
    expect(f.requests).toHaveLength(0);
  });

  it('refuses more than 100 ids in one reach call, sending nothing', async () => {
    const { x, fake: f } = await setup();
    const ids = Array.from({ length: 101 }, (_, i) => String(1_500_000_000_000_000_100n + BigInt(i)));
    expect((await rejection(x.reach(ids))).code).toBe('invalid');
    expect(f.requests).toHaveLength(0);
    // 100 is fine: one call; what isn't an X id is simply missing.
    expect((await x.reach([...ids.slice(0, 99), 'not-an-id'])).size).toBe(0);
    expect(f.lookupCalls).toBe(1);
  });

  it('a post whose answer never came (X took it): the timeout leads to findPublished, which finds it', async () => {
    const { x, fake: f } = await setup({}, { timeoutMs: 300 });
    const arrived = f.hangNext('createPost', { commit: true });
    const req = appeal('Appeal whose answer is lost.');
    const publishing = x.publish(req);
    await arrived;
    const post = await publishing;
    expect(f.livePosts().map((p) => p.id)).toEqual([post.postId]);
    expect(f.createCalls).toBe(1);
    expect(f.timelineCalls).toBeGreaterThanOrEqual(1);
    expect(post.createdAt).toBe(f.post(post.postId)!.createdAt);
    expect((await x.findPublished(req.reference, Date.now() - 60_000))?.postId).toBe(post.postId);
  });

  it('a post whose answer never came (X did not take it): not found, so posted again, once', async () => {
    const { x, fake: f } = await setup({}, { timeoutMs: 300 });
    f.hangNext('createPost', { commit: false });
    const post = await x.publish(appeal('Appeal lost on the way.'));
    expect(f.livePosts().map((p) => p.id)).toEqual([post.postId]);
    expect(f.createCalls).toBe(2);
  });

  it('when the post may exist and checking fails too: ambiguous, and it says to look first', async () => {
    const { x, fake: f } = await setup({}, { maxAttempts: 2 });
    f.failNext('createPost', { status: 503 });
    f.failNext('timeline', { status: 503, times: 5 });
    const err = await rejection(x.publish(appeal('Appeal during an outage.')));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: true, permanent: false, status: 503 });
    expect(err.userMessage).toMatch(/look at the X account before trying again/);
    expect(f.createCalls).toBe(1);
  });

  it('keeps trying a post X keeps failing (5xx, not there) only maxAttempts times, then ambiguous', async () => {
    const { x, fake: f } = await setup({}, { maxAttempts: 3 });
    f.failNext('createPost', { status: 500, times: 10 });
    const err = await rejection(x.publish(appeal('Appeal X keeps failing.')));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: true });
    expect(f.createCalls).toBe(3);
    expect(f.timelineCalls).toBe(3);
  });

  it('publishing the same request again: X says duplicate, the earlier post is ours, so it is returned', async () => {
    const { x, fake: f } = await setup();
    const req = appeal('Appeal sent twice.');
    const first = await x.publish(req);
    const second = await x.publish(req);
    expect(second.postId).toBe(first.postId);
    expect(f.createCalls).toBe(2);
    expect(f.livePosts()).toHaveLength(1);
  });

  it('X rewrites links to t.co; the reference still finds the post, across timeline pages', async () => {
    const { x, fake: f } = await setup();
    const ref = freshReference();
    const post = await x.publish(request(`Details at https://police.example/a/1\n\n${ref}`, ref));
    expect(f.post(post.postId)!.text).toMatch(/https:\/\/t\.co\//);
    for (let i = 0; i < 150; i++) f.seedPost({ text: `Later post ${i}`, createdAt: Date.now() + i });
    const found = await x.findPublished(ref, Date.now() - 60_000);
    expect(found?.postId).toBe(post.postId);
    expect(f.timelineCalls).toBe(2);
    expect(f.requestsTo('timeline')[0]!.query).toMatchObject({ max_results: '100', 'tweet.fields': 'created_at,attachments' });
    expect(f.requestsTo('timeline')[0]!.query.start_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('rate-limited beyond the wait budget: rate_limited, with the time in plain words', async () => {
    const now = Date.UTC(2026, 2, 3, 13, 50, 0);
    const { x, fake: f } = await setup({ now: () => now }, { now: () => now });
    f.rateLimitNext('createPost', { resetInSeconds: 15 * 60 + 60 });
    const err = await rejection(x.publish(appeal('Rate-limited appeal.')));
    expect(err).toMatchObject({ code: 'rate_limited', permanent: false, status: 429, retryAfterMs: 16 * 60_000 });
    expect(err.userMessage).toBe('X is rate-limiting posts until 14:06 UTC');
  }, 10_000);

  it('the 24-hour posting cap counts, not just the 15-minute window', async () => {
    const { x, fake: f } = await setup();
    const nowSec = Math.floor(Date.now() / 1000);
    f.failNext('createPost', {
      status: 429,
      headers: {
        'x-rate-limit-limit': '100', 'x-rate-limit-remaining': '95', 'x-rate-limit-reset': String(nowSec + 60),
        'x-user-limit-24hour-limit': '17', 'x-user-limit-24hour-remaining': '0', 'x-user-limit-24hour-reset': String(nowSec + 7200),
      },
    });
    const err = await rejection(x.publish(appeal('Appeal over the daily cap.')));
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterMs).toBeGreaterThan(7_100_000);
  });

  it('times out idempotent reads, backs off, and gives up after maxAttempts as unavailable', async () => {
    const { x, fake: f, sleeps } = await setup({ delayMs: { lookup: 400 } }, { timeoutMs: 100, maxAttempts: 2 });
    const err = await rejection(x.reach(['1500000000000000002']));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: false, permanent: false });
    expect(err.userMessage).toMatch(/X could not be reached/);
    expect(f.lookupCalls).toBe(2);
    expect(sleeps).toHaveLength(1);
  });

  it('when X cannot be reached at all (connection refused), nothing is ambiguous', async () => {
    const { x, fake: f } = await setup({}, { maxAttempts: 2 });
    await f.close();
    const err = await rejection(x.publish(appeal('Appeal with X down.')));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: false });
    expectNoSecrets(err);
  });

  it('withdraw: 404 and deleted:false both count as already gone', async () => {
    const { x } = await setup({ deleteMissing: 'deleted-false' });
    await x.withdraw({ postId: '1500000000000000009', url: 'https://x.com/i/web/status/1500000000000000009' });
    const other = await setup();
    await other.x.withdraw({ postId: '1500000000000000009', url: '' });
    expect(other.fake.requestsTo('delete')[0]!.status).toBe(404);
    expect((await rejection(other.x.withdraw({ postId: '../users/me', url: '' }))).code).toBe('invalid');
  });

  it('no Network method leaks a secret through an error, whatever X answers', async () => {
    const { x, fake: f } = await setup({}, { maxAttempts: 1 });
    const errors: unknown[] = [];
    for (const status of [400, 401, 403, 404, 500]) {
      f.failNext('lookup', { status });
      errors.push(await x.reach(['1500000000000000002']).catch((e: unknown) => e));
    }
    expect(errors.every((e) => e instanceof NetworkError)).toBe(true);
    expectNoSecrets(errors, JSON.stringify(errors));
  });

  it('talks to the configured http:// base (the fake saw the call), not api.x.com', async () => {
    const { x, fake: f } = await setup({}, {}, {});
    const network: Network = x;
    await network.reach(['1500000000000000002']);
    expect(f.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /2/tweets']);
  });
});

describe('X adapter: replies', () => {
  const fakes: FakeX[] = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });

  async function setup(opts: FakeXOptions = {}, deps: Partial<XDeps> = {}) {
    const fake = await startFakeX({ ...CREDS, ...opts });
    fakes.push(fake);
    const logger = captureLogger();
    const sleeps: number[] = [];
    const x = createX(config(fake), { logger, sleep: async (ms) => { sleeps.push(ms); }, ...deps });
    const ref = freshReference();
    const parent = await x.publish(request(`Missing: Jo, 12, last seen in Ilkley. Call 101.\n\n${ref}`, ref));
    return { fake, x, logger, sleeps, parent, ref };
  }

  it('replies with POST /2/tweets {text, reply:{in_reply_to_tweet_id}}, linked like a post; withdraw deletes just the reply', async () => {
    const { fake, x, parent, ref } = await setup();
    const text = `Jo has been found safe. Thank you for sharing. ${ref}`;
    const reply = await x.reply(parent, text);
    expect(fake.requestsTo('reply').map((r) => r.body)).toEqual([{ text, reply: { in_reply_to_tweet_id: parent.postId } }]);
    expect(reply).toEqual({ postId: expect.stringMatching(/^\d+$/), url: `https://x.com/${fake.user.username}/status/${reply.postId}`, extra: { replyTo: [parent.postId] } });
    expect(fake.post(reply.postId)).toMatchObject({ inReplyTo: parent.postId, sentText: text });
    expect(fake.post(parent.postId)!.metrics.reply_count).toBe(1);
    expect(fake.createCalls).toBe(1);
    expect(fake.replyCalls).toBe(1);

    await x.withdraw(reply);
    expect(fake.requestsTo('delete').map((r) => r.path)).toEqual([`/2/tweets/${reply.postId}`]);
    expect(fake.replies(parent.postId)).toEqual([]);
    expect(fake.post(parent.postId)!.deleted).toBe(false);
    expect(fake.post(parent.postId)!.metrics.reply_count).toBe(0);
    await x.withdraw(reply); // 404: already gone
    expect(fake.requestsTo('delete').map((r) => r.status)).toEqual([200, 404]);
  });

  it('a reply whose answer never came (X took it, links rewritten to t.co): found among the replies, not sent again', async () => {
    const { fake, x, parent } = await setup({}, { timeoutMs: 300 });
    const text = 'Found safe. Details: https://police.example/news/42 & thanks to all who shared.';
    const arrived = fake.hangNext('reply', { commit: true });
    const replying = x.reply(parent, text);
    await arrived;
    const reply = await replying;
    expect(fake.replies(parent.postId).map((p) => p.id)).toEqual([reply.postId]);
    expect(fake.post(reply.postId)!.text).toMatch(/https:\/\/t\.co\//);
    expect(reply.extra).toEqual({ replyTo: [parent.postId] });
    expect(reply.createdAt).toBe(fake.post(reply.postId)!.createdAt);
    expect(fake.replyCalls).toBe(1);
    // It looked at the account's posts including replies (findPublished leaves replies out).
    expect(fake.requestsTo('timeline').at(-1)!.query).toMatchObject({ exclude: 'retweets', 'tweet.fields': 'created_at,referenced_tweets' });
  });

  it('a reply X did not take (503, not on the account): ambiguous, never sent twice', async () => {
    const { fake, x, parent, ref } = await setup();
    fake.failNext('reply', { status: 503 });
    const err = await rejection(x.reply(parent, `Found safe. ${ref}`));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: true, permanent: false, status: 503 });
    expect(err.userMessage).toMatch(/look at the X account before replying again/);
    expect(fake.replyCalls).toBe(1);
    expect(fake.replies(parent.postId)).toEqual([]);
  });

  it('when the reply may exist and checking fails too: ambiguous, and it says to look first', async () => {
    const { fake, x, parent } = await setup({}, { maxAttempts: 2 });
    fake.failNext('reply', { status: 500, commit: true });
    fake.failNext('timeline', { status: 503, times: 5 });
    const err = await rejection(x.reply(parent, 'Found safe.'));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: true, status: 500 });
    expect(err.userMessage).toMatch(/checking the account failed too/);
    expect(fake.replyCalls).toBe(1);
  });

  it('replying again after an unconfirmed try: X says duplicate, the earlier reply is ours, so it is returned', async () => {
    const { fake, x, parent } = await setup();
    const first = await x.reply(parent, 'Found safe, thank you.');
    const again = await x.reply(parent, 'Found safe, thank you.');
    expect(again.postId).toBe(first.postId);
    expect(fake.replyCalls).toBe(2);
    expect(fake.replies(parent.postId)).toHaveLength(1);
    // The same words as another post of ours (not a reply to this one) stay a duplicate.
    const other = await x.publish(request('Another appeal. Ref 22222X', 'Ref 22222X'));
    const err = await rejection(x.reply(other, 'Found safe, thank you.'));
    expect(err).toMatchObject({ code: 'duplicate', permanent: true });
  });

  it('replying to a deleted post: not_found, permanent, asked once', async () => {
    const { fake, x, parent } = await setup();
    await x.withdraw(parent);
    const err = await rejection(x.reply(parent, 'Found safe.'));
    expect(err).toMatchObject({ code: 'not_found', permanent: true, status: 403 });
    expect(fake.requestsTo('reply').map((r) => r.status)).toEqual([403]);
    expect(fake.requests.at(-1)!.route).toBe('reply');
    expect(REPLY_TO_DELETED_DETAIL).toMatch(/deleted or not visible/);
  });

  it('refuses a parent that is not an X id, or an empty text, before sending anything', async () => {
    const { fake, x, parent } = await setup();
    const before = fake.requests.length;
    expect((await rejection(x.reply({ postId: '../users/me', url: '' }, 'Found safe.'))).code).toBe('invalid');
    expect((await rejection(x.reply(parent, '   '))).code).toBe('invalid');
    expect(fake.requests).toHaveLength(before);
  });

  it('waits out a rate limit on the reply, then replies once', async () => {
    const { fake, x, parent, sleeps } = await setup();
    fake.rateLimitNext('reply', { resetInSeconds: 20 });
    const reply = await x.reply(parent, 'Found safe after a wait.');
    expect(fake.requestsTo('reply').map((r) => r.status)).toEqual([429, 201]);
    expect(fake.replies(parent.postId).map((p) => p.id)).toEqual([reply.postId]);
    expect(Math.max(...sleeps)).toBeGreaterThanOrEqual(18_000);
  });
});

describe('X adapter: video', () => {
  it('uploads a video as tweet_video in chunks, waits for X to process it, then posts it', async () => {
    const fake = await startFakeX({ ...CREDS, processingPolls: 2 });
    try {
      const sleeps: number[] = [];
      const x = createX(config(fake), { logger: captureLogger(), sleep: async (ms) => { sleeps.push(ms); } });
      const bytes = Buffer.alloc(9 * 1024 * 1024, 7);
      const ref = freshReference();
      const post = await x.publish({ ...request(`Footage appeal.\n\n${ref}`, ref), media: [mediaFile(bytes, 'video/mp4', 'cctv.mp4')] });
      const [m] = fake.media;
      expect(m!.category).toBe('tweet_video');
      expect(m!.bytes.equals(bytes)).toBe(true);
      expect(m!.segments.size).toBe(3); // 4 MB segments
      expect(fake.requestsTo('mediaStatus').length).toBeGreaterThanOrEqual(1);
      expect(fake.post(post.postId)!.mediaIds).toEqual([m!.id]);
    } finally {
      await fake.close();
    }
  });

  it('refuses a video together with images', async () => {
    const fake = await startFakeX(CREDS);
    try {
      const x = createX(config(fake), { logger: captureLogger() });
      const ref = freshReference();
      const err = await rejection(x.publish({ ...request(`Mixed.\n\n${ref}`, ref), media: [mediaFile(Buffer.alloc(10, 1), 'video/mp4', 'a.mp4'), mediaFile(await plainPng(8, 8), 'image/png', 'b.png')] }));
      expect(err.code).toBe('invalid');
      expect(fake.media).toHaveLength(0);
    } finally {
      await fake.close();
    }
  });
});
