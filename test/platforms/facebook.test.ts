/**
 * The Facebook adapter: the Network contract against the fake Graph API, then what is
 * particular to Facebook (multi-photo posts, post_media_view, the token, throttling codes).
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { FacebookConfig } from '../../src/config.js';
import { createFacebook, type FacebookDeps } from '../../src/platforms/facebook/index.js';
import { startFakeFacebook, type FacebookRoute, type FakeFacebook, type FakeFacebookOptions } from '../fakes/facebook.js';
import { plainJpeg, plainPng } from '../helpers/images.js';
import { captureLogger, freshReference, mediaFile, networkContract, rejection, request, type FakeNetworkControl, type NetworkOp, type ScriptedFailure } from './contract.js';

const PAGE_ID = '104000000000042';
const TOKEN = 'EAAGfacebookPAGEtokenSECRET123';
const SECRETS = [TOKEN];

function config(fake: FakeFacebook): FacebookConfig {
  return { pageId: PAGE_ID, pageToken: TOKEN, graphUrl: fake.url };
}

const OP_ROUTE: Record<NetworkOp, FacebookRoute> = {
  account: 'posts', upload: 'photos', publish: 'feed', reach: 'read', find: 'posts', withdraw: 'delete', reply: 'comments',
};

/** The contract's generic handle on the fake Graph API. */
export function facebookControl(fake: FakeFacebook): FakeNetworkControl {
  return {
    publishedPosts: () => fake.livePosts().map((p) => ({ id: p.id, text: p.message, media: fake.photoBytes(p.id) })),
    replies: (postId) => fake.commentsOn(postId).map((c) => ({ id: c.id, text: c.message })),
    setViews: (id, n) => fake.setViews(id, n),
    failNext: (op: NetworkOp, f: ScriptedFailure) => {
      const route = OP_ROUTE[op];
      if (f.kind === 'server') fake.failNext(route, { status: f.status ?? 503, times: f.times ?? 1, commit: f.commit ?? false });
      if (f.kind === 'auth') fake.failNext(route, { code: 190, subcode: 463, message: 'Error validating access token: Session has expired.' });
      if (f.kind === 'duplicate') fake.failNext(route, { code: 506, message: '(#506) Duplicate status message' });
      if (f.kind === 'invalid') fake.failNext(route, { code: 100, message: '(#100) Invalid parameter' });
    },
    // Graph says how long in whole minutes; the contract speaks seconds, so the fake is told a
    // fractional number of minutes (see the report: the contract's 30 s window).
    rateLimitNext: (op, seconds) => fake.rateLimitNext(OP_ROUTE[op], { minutes: seconds / 60, status: 429, code: 80001 }),
    ops: () => fake.requests.filter((r) => r.route).map((r) => ({
      op: r.route === 'photos' ? (r.fields.published === 'false' ? 'upload' : 'publish') : r.route === 'feed' ? 'publish' : r.route === 'posts' ? 'find'
        : r.route === 'read' ? 'reach' : r.route === 'comments' ? 'reply' : 'withdraw',
      status: r.status,
    })),
    close: () => fake.close(),
  };
}

networkContract('facebook', async ({ logger, sleep }) => {
  const fake = await startFakeFacebook({ pageId: PAGE_ID, pageToken: TOKEN });
  return {
    network: createFacebook(config(fake), { logger, sleep }),
    fake: facebookControl(fake),
    secrets: SECRETS,
    unknownPostId: `${PAGE_ID}_999999999999999`,
    reachKind: 'views',
    needs: 'none',
  };
});

describe('Facebook adapter', () => {
  const fakes: FakeFacebook[] = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });

  async function setup(opts: FakeFacebookOptions = {}, deps: Partial<FacebookDeps> = {}) {
    const fake = await startFakeFacebook({ pageId: PAGE_ID, pageToken: TOKEN, ...opts });
    fakes.push(fake);
    const logger = captureLogger();
    const sleeps: number[] = [];
    const fb = createFacebook(config(fake), { logger, sleep: async (ms) => { sleeps.push(ms); }, ...deps });
    return { fake, fb, logger, sleeps };
  }
  const appeal = (words: string, ref = freshReference()) => request(`${words} Call 101.\n\n${ref}`, ref);
  function expectNoSecrets(...things: unknown[]): void {
    const text = things.map((t) => `${inspect(t, { depth: 10 })}\n${JSON.stringify(t)}`).join('\n');
    expect(text.includes(TOKEN), 'the token leaked').toBe(false);
  }

  it('never puts the page token in a URL: reads and deletes send it as a Bearer header', async () => {
    const { fb, fake } = await setup();
    const post = await fb.publish(appeal('Token placement.'));
    await fb.reach([post.postId]);
    await fb.findPublished(post.postId, Date.now() - 60_000);
    await fb.withdraw(post);
    const nonPost = fake.requests.filter((r) => r.method !== 'POST');
    expect(nonPost.length).toBeGreaterThanOrEqual(3);
    expect(nonPost.every((r) => r.tokenVia === 'header')).toBe(true);
    expect(fake.requests.some((r) => r.tokenVia === 'query')).toBe(false);
  });

  it('is named facebook and reads reach 50 at a time', async () => {
    const { fb } = await setup();
    expect(fb.name).toBe('facebook');
    expect(fb.reachBatchSize).toBe(50);
  });

  it('several images: unpublished photos, then one feed post with attached_media, in order', async () => {
    const { fb, fake } = await setup();
    const a = mediaFile(await plainPng(40, 30), 'image/png', 'a.png');
    const b = mediaFile(await plainJpeg(30, 40), 'image/jpeg', 'b.jpg');
    const c = mediaFile(await plainPng(20, 20), 'image/png', 'c.png');
    const post = await fb.publish({ ...appeal('Three stills.'), media: [a, b, c] });
    expect(fake.requestsTo('photos').map((r) => r.fields.published)).toEqual(['false', 'false', 'false']);
    const feed = fake.requestsTo('feed');
    expect(feed).toHaveLength(1);
    const photoIds = fake.photos.map((p) => p.id);
    expect(feed[0]!.fields).toMatchObject({
      message: expect.stringContaining('Three stills.'),
      'attached_media[0]': JSON.stringify({ media_fbid: photoIds[0] }),
      'attached_media[2]': JSON.stringify({ media_fbid: photoIds[2] }),
    });
    expect(fake.photoBytes(post.postId)).toEqual([a.bytes, b.bytes, c.bytes]);
    expect(post).toMatchObject({ url: `https://www.facebook.com/${post.postId}`, extra: { photos: photoIds } });
    expect(fake.livePosts()).toHaveLength(1);
    await fb.withdraw(post);
    expect(fake.deleted).toEqual([post.postId, ...photoIds]);
  });

  it('one image: POST /photos with the message; the post id is post_id', async () => {
    const { fb, fake } = await setup();
    const img = mediaFile(await plainJpeg(), 'image/jpeg', 'one.jpg');
    const post = await fb.publish({ ...appeal('One still.'), media: [img] });
    expect(fake.requestsTo('feed')).toHaveLength(0);
    const [photo] = fake.photos;
    expect(photo!.published).toBe(true);
    expect(photo!.postId).toBe(post.postId);
    expect(post.extra).toEqual({ photos: [photo!.id] });
    expect(fake.post(post.postId)!.message).toContain('One still.');
  });

  it('reads post_media_view for many posts in one multi-id call, and never asks for post_impressions', async () => {
    const { fb, fake } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await fb.publish(appeal(`Appeal ${i}.`))).postId);
    fake.setViews(ids[1]!, 55);
    const reach = await fb.reach(ids);
    expect(reach.get(ids[1]!)).toEqual({ count: 55, kind: 'views' });
    expect(fake.requestsTo('read')).toHaveLength(1);
    expect(fake.metricsRequested).toEqual(['post_media_view']);
    expect(fake.metricsRequested.some((m) => m.startsWith('post_impressions'))).toBe(false);
  });

  it('the fake refuses post_impressions like Facebook (code 100)', async () => {
    const fake = await startFakeFacebook({ pageId: PAGE_ID, pageToken: TOKEN });
    fakes.push(fake);
    const post = fake.seedPost({ message: 'x' });
    const res = await fetch(`${fake.url}/?ids=${post.id}&fields=insights.metric(post_impressions)&access_token=${TOKEN}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(100);
  });

  it('where post_media_view is refused, reach falls back to engagements', async () => {
    const { fb, fake, logger } = await setup({ metrics: [] });
    const post = await fb.publish(appeal('Engagement appeal.'));
    fake.setEngagement(post.postId, { reactions: 3, comments: 2, shares: 1 });
    expect(await fb.reach([post.postId])).toEqual(new Map([[post.postId, { count: 6, kind: 'engagements' }]]));
    expect(await fb.reach([post.postId])).toEqual(new Map([[post.postId, { count: 6, kind: 'engagements' }]]));
    expect(fake.requestsTo('read').map((r) => r.status)).toEqual([400, 200, 200]);
    expect(logger.lines.some((l) => l.level === 'warn' && /engagements/.test(l.msg ?? ''))).toBe(true);
  });

  it('190 → auth, naming FACEBOOK_PAGE_TOKEN, never the token; nothing retried', async () => {
    const fake = await startFakeFacebook({ pageId: PAGE_ID, pageToken: 'a-different-token' });
    fakes.push(fake);
    const logger = captureLogger();
    const fb = createFacebook(config(fake), { logger, sleep: async () => {} });
    const err = await rejection(fb.publish(appeal('Appeal with a bad token.')));
    expect(err).toMatchObject({ code: 'auth', permanent: true, ambiguous: false, status: 400 });
    expect(err.userMessage).toBe('Facebook refused the page token: check FACEBOOK_PAGE_TOKEN');
    expect(fake.requests).toHaveLength(1);
    expect((await rejection(fb.reach([`${PAGE_ID}_1`]))).code).toBe('auth');
    expectNoSecrets(err, logger.lines);
  });

  it('logs METHOD url - status without the token, also for paging.next links that carry it', async () => {
    const { fb, fake, logger } = await setup();
    const ref = freshReference();
    const ours = await fb.publish(request(`First.\n\n${ref}`, ref));
    for (let i = 0; i < 120; i++) fake.seedPost({ message: `Later post ${i}`, createdAt: Date.now() + 1_000 + i });
    expect((await fb.findPublished(ref, Date.now() - 60_000))?.postId).toBe(ours.postId);
    expect(fake.requestsTo('posts')).toHaveLength(2);
    expect(fake.requestsTo('posts')[0]!.query).toMatchObject({ fields: 'id,message,created_time,permalink_url', limit: '100' });
    const messages = logger.lines.filter((l) => l.level === 'debug').map((l) => l.msg);
    expect(messages).toContain(`POST ${fake.url}/${PAGE_ID}/feed - 200`);
    expect(messages.filter((m) => m?.startsWith(`GET ${fake.url}/${PAGE_ID}/published_posts?`))).toHaveLength(2);
    expectNoSecrets(logger.lines);
    expect(inspect(logger.lines)).not.toMatch(/access_token/);
  });

  it('permission errors say which permission is missing', async () => {
    const { fb, fake } = await setup();
    fake.failNext('feed', { code: 200, message: '(#200) Requires pages_manage_posts permission to manage the object' });
    const err = await rejection(fb.publish(appeal('Appeal without permission.')));
    expect(err).toMatchObject({ code: 'forbidden', permanent: true });
    expect(err.userMessage).toMatch(/lacks the "pages_manage_posts" permission/);
  });

  it('a Page throttle (#80001, HTTP 400) waits for estimated_time_to_regain_access, then posts once', async () => {
    const { fb, fake, sleeps } = await setup();
    fake.rateLimitNext('feed', { minutes: 2, code: 80001 });
    const post = await fb.publish(appeal('Throttled appeal.'));
    expect(fake.livePosts().map((p) => p.id)).toEqual([post.postId]);
    expect(sleeps[0]).toBeGreaterThanOrEqual(120_000);
    expect(sleeps[0]).toBeLessThanOrEqual(121_000);
    // Without an estimate (code 4, app-level): backs off instead; beyond the budget → rate_limited.
    fake.rateLimitNext('feed', { minutes: 0, code: 4, times: 20 });
    const err = await rejection(fb.publish(appeal('Throttled for long.')));
    expect(err).toMatchObject({ code: 'rate_limited', permanent: false });
    expect(err.retryAfterMs).toBeGreaterThan(0);
  });

  it('checks the fence right before creating the post, after a throttle wait, and lets its error through', async () => {
    let lost = false;
    const { fb, fake } = await setup({}, { sleep: async () => { lost = true; } });
    fake.rateLimitNext('feed', { minutes: 1 });
    class Fenced extends Error {}
    const req = { ...appeal('Fenced appeal.'), fence: () => { if (lost) throw new Fenced('lease lost'); } };
    await expect(fb.publish(req)).rejects.toBeInstanceOf(Fenced);
    expect(fake.requestsTo('feed')).toHaveLength(1);
    expect(fake.livePosts()).toHaveLength(0);
  });

  it('a post whose answer never came (Facebook took it): the timeout leads to findPublished, which finds it', async () => {
    const { fb, fake } = await setup({}, { timeoutMs: 300 });
    const arrived = fake.hangNext('feed', { commit: true });
    const publishing = fb.publish(appeal('Appeal whose answer is lost.'));
    await arrived;
    const post = await publishing;
    expect(fake.livePosts().map((p) => p.id)).toEqual([post.postId]);
    expect(fake.requestsTo('feed')).toHaveLength(1);
    expect(post.createdAt).toBe(Math.floor(fake.post(post.postId)!.createdAt / 1000) * 1000);
  });

  it('publishing the same text again: 506 duplicate, the earlier post is ours, so it is returned', async () => {
    const { fb, fake } = await setup();
    const req = appeal('Appeal sent twice.');
    const first = await fb.publish(req);
    expect((await fb.publish(req)).postId).toBe(first.postId);
    expect(fake.requestsTo('feed').map((r) => r.status)).toEqual([200, 400]);
  });

  it('withdraw: an already-deleted photo (100/33) counts as done; a bad id is refused without a request', async () => {
    const { fb, fake } = await setup();
    await fb.withdraw({ postId: `${PAGE_ID}_123`, url: '', extra: { photos: ['456'] } });
    expect(fake.requestsTo('delete').map((r) => r.status)).toEqual([400, 400]);
    expect((await rejection(fb.withdraw({ postId: '../me/feed', url: '' }))).code).toBe('invalid');
    expect(fake.requestsTo('delete')).toHaveLength(2);
  });

  describe('reply', () => {
    const thanks = (ref: string) => `Update: found safe \u2014 thank you for sharing.\n\n${ref}`;

    it('the Page comments on the post: POST /{post-id}/comments with the message, the token in the form', async () => {
      const { fb, fake } = await setup();
      const req = appeal('Missing: Sam, 15.');
      const post = await fb.publish(req);
      const reply = await fb.reply(post, thanks(req.reference));
      const [comment] = fake.commentsOn(post.postId);
      expect(fake.commentsOn(post.postId)).toHaveLength(1);
      expect(comment).toMatchObject({ id: reply.postId, message: thanks(req.reference), fromPageId: PAGE_ID });
      expect(reply).toEqual({ postId: comment!.id, url: `https://www.facebook.com/${comment!.id}`, extra: { replyTo: [post.postId] } });
      const [sent] = fake.requestsTo('comments');
      expect(sent).toMatchObject({ method: 'POST', path: `/v25.0/${post.postId}/comments`, fields: { message: thanks(req.reference) }, query: {}, tokenVia: 'form', status: 200 });
      // Not a post of its own: the Page still has one post, and recovery finds that one.
      expect(fake.livePosts().map((p) => p.id)).toEqual([post.postId]);
      expect((await fb.findPublished(req.reference, Date.now() - 60_000))?.postId).toBe(post.postId);
    });

    it('on a one-image post the comment goes on the post (post_id), not on the photo', async () => {
      const { fb, fake } = await setup();
      const req = appeal('One still.');
      const post = await fb.publish({ ...req, media: [mediaFile(await plainJpeg(), 'image/jpeg', 'one.jpg')] });
      await fb.reply(post, thanks(req.reference));
      expect(fake.commentsOn(post.postId)).toHaveLength(1);
      expect(fake.commentsOn(post.extra!.photos![0]!)).toEqual([]);
    });

    it('a lost answer (Facebook took the comment): ambiguous, never commented twice', async () => {
      const { fb, fake } = await setup({}, { timeoutMs: 300 });
      const req = appeal('Appeal whose follow-up answer is lost.');
      const post = await fb.publish(req);
      const arrived = fake.hangNext('comments', { commit: true });
      const replying = fb.reply(post, thanks(req.reference));
      await arrived;
      const err = await rejection(replying);
      expect(err).toMatchObject({ code: 'unavailable', ambiguous: true, permanent: false });
      expect(fake.commentsOn(post.postId)).toHaveLength(1);
      expect(fake.requestsTo('comments')).toHaveLength(1);
    });

    it('5xx on the comment, taken or not: ambiguous, not repeated; a throttle is waited out and sent once', async () => {
      const { fb, fake, sleeps } = await setup();
      const req = appeal('Appeal with a flaky follow-up.');
      const post = await fb.publish(req);
      fake.failNext('comments', { status: 503 });
      expect(await rejection(fb.reply(post, thanks(req.reference)))).toMatchObject({ ambiguous: true, status: 503 });
      expect(fake.commentsOn(post.postId)).toEqual([]);
      expect(sleeps).toEqual([]);
      fake.rateLimitNext('comments', { minutes: 1, code: 32 });
      const reply = await fb.reply(post, thanks(req.reference));
      expect(fake.commentsOn(post.postId).map((c) => c.id)).toEqual([reply.postId]);
      expect(fake.requestsTo('comments').map((r) => r.status)).toEqual([503, 400, 200]);
      expect(sleeps[0]).toBeGreaterThanOrEqual(60_000);
    });

    it('a post that is gone → not_found; no permission → names pages_manage_engagement; bad id or blank text refused unsent', async () => {
      const { fb, fake } = await setup();
      const req = appeal('Appeal whose follow-up is refused.');
      const post = await fb.publish(req);
      fake.failNext('comments', { code: 200, message: '(#200) Permissions error' });
      const denied = await rejection(fb.reply(post, 'Found safe.'));
      expect(denied).toMatchObject({ code: 'forbidden', permanent: true });
      expect(denied.userMessage).toMatch(/"pages_manage_engagement"/);
      await fb.withdraw(post);
      expect(await rejection(fb.reply(post, 'Found safe.'))).toMatchObject({ code: 'not_found', permanent: true, ambiguous: false });
      expect(fake.requestsTo('comments').map((r) => r.status)).toEqual([400, 400]);
      expect((await rejection(fb.reply({ postId: '../me/feed', url: '' }, 'Found safe.'))).code).toBe('invalid');
      expect((await rejection(fb.reply(post, ' \n'))).code).toBe('invalid');
      expect(fake.requestsTo('comments')).toHaveLength(2);
    });

    it('withdraw of a reply: DELETE /{comment-id} (Bearer), the post stays; 100/33 and 404 count as done', async () => {
      const { fb, fake } = await setup();
      const req = appeal('Appeal to follow up.');
      const post = await fb.publish(req);
      const reply = await fb.reply(post, thanks(req.reference));
      await fb.withdraw(reply);
      const [del] = fake.requestsTo('delete');
      expect(del).toMatchObject({ method: 'DELETE', path: `/v25.0/${reply.postId}`, tokenVia: 'header', status: 200 });
      expect(fake.deleted).toEqual([reply.postId]);
      expect(fake.commentsOn(post.postId)).toEqual([]);
      expect(fake.livePosts().map((p) => p.id)).toEqual([post.postId]);
      await fb.withdraw(reply); // 100/33
      fake.failNext('delete', { status: 404, code: 100, message: 'Not found' });
      await fb.withdraw(reply);
      expect(fake.requestsTo('delete').map((r) => r.status)).toEqual([200, 400, 404]);
      // Deleting the post takes its comments with it: withdrawing a reply afterwards is a no-op.
      const again = await fb.reply(post, thanks(req.reference));
      await fb.withdraw(post);
      expect(fake.commentsOn(post.postId)).toEqual([]);
      await fb.withdraw(again);
      expect(fake.requestsTo('delete').at(-1)!.status).toBe(400);
      expect((await rejection(fb.withdraw({ postId: '../x', url: '', extra: { replyTo: [post.postId] } }))).code).toBe('invalid');
    });
  });

  it('refuses non-images and images over 10 MB before sending anything; more than 50 ids in reach', async () => {
    const { fb, fake } = await setup();
    const pdf = mediaFile(Buffer.from('%PDF-1.4'), 'application/pdf', 'doc.pdf');
    expect((await rejection(fb.publish({ ...appeal('Not an image.'), media: [pdf] }))).code).toBe('invalid');
    const huge = mediaFile(Buffer.alloc(10 * 1024 * 1024 + 1), 'image/jpeg', 'huge.jpg');
    expect((await rejection(fb.publish({ ...appeal('Too big.'), media: [huge] }))).userMessage).toMatch(/10 MB/);
    expect((await rejection(fb.reach(Array.from({ length: 51 }, (_, i) => `${PAGE_ID}_${i + 1}`)))).code).toBe('invalid');
    expect(fake.requests).toHaveLength(0);
  });
});
