/**
 * The Flickr adapter: the Network contract against the fake Flickr, then what is particular to
 * Flickr (albums, views as strings, OAuth in the params, Flickr's error codes).
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlickrConfig } from '../../src/config.js';
import { createFlickr, type FlickrDeps } from '../../src/platforms/flickr/index.js';
import { startFakeFlickr, type FakeFlickr, type FakeFlickrOptions, type FakeFlickrRequest, type FlickrRoute } from '../fakes/flickr.js';
import { plainJpeg, plainPng } from '../helpers/images.js';
import { captureLogger, freshReference, mediaFile, networkContract, rejection, request, type FakeNetworkControl, type FakePost, type NetworkOp, type ScriptedFailure } from './contract.js';

const CREDS = {
  apiKey: 'flickr-test-api-key',
  apiSecret: 'flickr-test-api-secret-SECRET1',
  oauthToken: '72157720000000001-flickr-test-token-SECRET2',
  oauthSecret: 'flickr-test-oauth-secret-SECRET3',
};
const SECRETS = [CREDS.apiSecret, CREDS.oauthToken, CREDS.oauthSecret];

function config(fake: FakeFlickr, overrides: Partial<FlickrConfig> = {}): FlickrConfig {
  return { ...CREDS, apiUrl: fake.apiUrl, uploadUrl: fake.uploadUrl, ...overrides };
}

const wantsViews = (p: Record<string, string>) => (p.extras ?? '').split(',').includes('views');

/** What the contract calls an op, in Flickr's requests. Flickr has no "post" step: the upload is the post. */
function opOf(r: FakeFlickrRequest): NetworkOp | undefined {
  switch (r.route) {
    case 'flickr.test.login': return 'account';
    case 'upload': case 'flickr.photosets.create': case 'flickr.photosets.addPhoto': return 'publish';
    case 'flickr.people.getPhotos': return wantsViews(r.params) ? 'reach' : 'find';
    case 'flickr.photosets.getPhotos': return wantsViews(r.params) ? 'reach' : 'withdraw';
    case 'flickr.photosets.getList': return 'find';
    case 'flickr.photos.delete': case 'flickr.photosets.delete': case 'flickr.photos.comments.deleteComment': return 'withdraw';
    case 'flickr.photos.comments.addComment': return 'reply';
    default: return undefined;
  }
}

const OP_ROUTE: Record<NetworkOp, { route: FlickrRoute; when?: (p: Record<string, string>) => boolean }> = {
  account: { route: 'flickr.test.login' },
  upload: { route: 'upload' },
  publish: { route: 'upload' },
  reach: { route: 'flickr.people.getPhotos', when: wantsViews },
  find: { route: 'flickr.people.getPhotos', when: (p) => !wantsViews(p) },
  withdraw: { route: 'flickr.photos.delete' },
  reply: { route: 'flickr.photos.comments.addComment' },
};

/** The contract's generic handle on the fake Flickr: an album is one post (id "set:<id>"), a photo outside any album another. */
export function flickrControl(fake: FakeFlickr): FakeNetworkControl {
  return {
    publishedPosts: () => {
      const sets = fake.livePhotosets();
      const inSets = new Set(sets.flatMap((s) => s.photoIds));
      const posts: Array<FakePost & { at: number }> = [
        ...sets.map((s) => ({ id: `set:${s.id}`, text: s.description, media: s.photoIds.map((id) => fake.photo(id)!.bytes), at: Math.min(...s.photoIds.map((id) => fake.photo(id)!.uploadedAt)) })),
        ...fake.livePhotos().filter((p) => !inSets.has(p.id)).map((p) => ({ id: p.id, text: p.description, media: [p.bytes], at: p.uploadedAt })),
      ];
      return posts.sort((a, b) => a.at - b.at).map(({ at: _at, ...p }) => p);
    },
    // A reply is a comment on one of the post's photos (the adapter picks the album's first).
    replies: (postId) => {
      const set = /^set:(.+)$/.exec(postId)?.[1];
      const photos = set ? (fake.photoset(set)?.photoIds ?? []) : [postId];
      return photos.flatMap((id) => fake.commentsOn(id)).sort((a, b) => a.createdAt - b.createdAt).map((c) => ({ id: c.id, text: c.text }));
    },
    setViews: (id, n) => {
      const set = /^set:(.+)$/.exec(id)?.[1];
      if (set) fake.photoset(set)!.photoIds.forEach((p, i) => fake.setViews(p, i === 0 ? n : 0));
      else fake.setViews(id, n);
    },
    failNext: (op: NetworkOp, f: ScriptedFailure) => {
      const { route, when } = OP_ROUTE[op];
      const only = when ? { when } : {};
      if (f.kind === 'server') fake.failNext(route, { status: f.status ?? 503, times: f.times ?? 1, commit: f.commit ?? false, ...only });
      if (f.kind === 'auth') fake.failNext(route, { code: 98, message: 'Invalid auth token', ...only });
      if (f.kind === 'invalid') fake.failNext(route, route === 'upload' ? { code: 5, message: 'Filetype was not recognised' } : { code: 116, message: 'Bad URL found', ...only });
      if (f.kind === 'duplicate') {
        throw new Error('Flickr has no "duplicate" answer (the API never refuses a photo as a duplicate); the contract needs a way to skip this test');
      }
    },
    rateLimitNext: (op, seconds) => fake.rateLimitNext(OP_ROUTE[op].route, seconds, OP_ROUTE[op].when),
    ops: () => fake.requests.flatMap((r) => {
      const op = opOf(r);
      return op ? [{ op, status: r.status }] : [];
    }),
    close: () => fake.close(),
  };
}

networkContract('flickr', async ({ logger, sleep }) => {
  const fake = await startFakeFlickr(CREDS);
  return {
    network: createFlickr(config(fake), { logger, sleep }),
    fake: flickrControl(fake),
    secrets: SECRETS,
    unknownPostId: '53999999999',
    reachKind: 'views',
    needs: 'image',
    refusesDuplicates: false,
    sampleMedia: async () => [mediaFile(await plainPng(40, 30), 'image/png', 'appeal.png')],
  };
});

describe('Flickr adapter', () => {
  const fakes: FakeFlickr[] = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });

  async function setup(opts: FakeFlickrOptions = {}, deps: Partial<FlickrDeps> = {}, cfg: Partial<FlickrConfig> = {}) {
    const fake = await startFakeFlickr({ ...CREDS, ...opts });
    fakes.push(fake);
    const logger = captureLogger();
    const sleeps: number[] = [];
    const flickr = createFlickr(config(fake, cfg), { logger, sleep: async (ms) => { sleeps.push(ms); }, ...deps });
    return { fake, flickr, logger, sleeps };
  }

  const png = async (w = 32, h = 24) => mediaFile(await plainPng(w, h), 'image/png', `still-${w}x${h}.png`);
  const appeal = async (words: string, media?: Awaited<ReturnType<typeof png>>[], ref = freshReference()) =>
    ({ ...request(`${words} Call 101.\n\n${ref}`, ref, media ?? [await png()]), title: `Appeal: ${words}` });

  function expectNoSecrets(...things: unknown[]): void {
    const text = things.map((t) => inspect(t, { depth: 10 })).join('\n') + JSON.stringify(things);
    for (const s of SECRETS) expect(text.includes(s), 'a secret leaked').toBe(false);
  }

  it('photos an attempt left half-way (2 of 3, no album) are never taken for the post', async () => {
    const { flickr, fake } = await setup();
    const ref = freshReference();
    const text = `Three suspects.\n\n${ref}`;
    const tags = ['police', 'appeal', ref.toLowerCase().replace(' ', ''), 'lhn3'];
    fake.seedPhoto({ title: 'a', description: text, tags });
    fake.seedPhoto({ title: 'b', description: text, tags });
    expect(await flickr.findPublished(ref, Date.now() - 60_000)).toBeUndefined();
  });

  it('is named flickr and reads the reach of 1,000 photos in two calls (one walk of 500-photo pages)', async () => {
    const { flickr, fake } = await setup();
    expect(flickr.name).toBe('flickr');
    expect(flickr.reachBatchSize).toBe(1000);
    const ids = Array.from({ length: 1000 }, (_, i) => fake.seedPhoto({ title: `p${i}`, views: i }).id);
    const before = fake.requests.length;
    const reach = await flickr.reach(ids);
    expect(reach.size).toBe(1000);
    expect(reach.get(ids[7]!)).toEqual({ count: 7, kind: 'views' });
    expect(fake.requests.slice(before).filter((r) => r.params.method === 'flickr.people.getPhotos')).toHaveLength(2);
  });

  it('uploads one image as a public photo with title, description and tags; the photo is the post', async () => {
    const { flickr, fake } = await setup();
    const req = await appeal('Witness appeal in Leeds.');
    const post = await flickr.publish(req);
    const [photo] = fake.livePhotos();
    expect(post).toEqual({ postId: photo!.id, url: `https://www.flickr.com/photos/${fake.nsid}/${photo!.id}`, extra: { photos: [photo!.id] } });
    expect(photo).toMatchObject({ title: 'Appeal: Witness appeal in Leeds.', description: req.text, isPublic: true, isFriend: false, isFamily: false });
    expect(photo!.tags).toEqual(['police', 'appeal', req.reference.toLowerCase().replace(' ', ''), 'lhn1']);
    expect(photo!.bytes.equals(req.media[0]!.bytes)).toBe(true);
    // The SDK's way: REST reads as GET, the upload as signed multipart POST; the photo part unsigned.
    expect(fake.requests.map((r) => `${r.httpMethod} ${r.route}`)).toEqual(['GET flickr.test.login', 'POST upload']);
    expect(fake.requests[1]!.params).not.toHaveProperty('photo');
  });

  it('three images → one album with three photos, the first its cover; the album is the post', async () => {
    const { flickr, fake } = await setup();
    const media = [await png(10, 10), mediaFile(await plainJpeg(12, 10), 'image/jpeg', 'b.jpg'), await png(14, 10)];
    const req = await appeal('Three stills of the van.', media);
    const post = await flickr.publish(req);
    const [set] = fake.livePhotosets();
    expect(fake.livePhotosets()).toHaveLength(1);
    expect(set!.photoIds).toHaveLength(3);
    expect(set!.primary).toBe(set!.photoIds[0]);
    expect(set!.photoIds.map((id) => createHash('sha256').update(fake.photo(id)!.bytes).digest('hex'))).toEqual(media.map((m) => m.sha256));
    expect(set!.description).toBe(req.text);
    expect(post).toEqual({ postId: `set:${set!.id}`, url: `https://www.flickr.com/photos/${fake.nsid}/albums/${set!.id}`, extra: { photos: set!.photoIds, photoset: [set!.id] } });
    expect(fake.requestsTo('flickr.photosets.create')[0]!.httpMethod).toBe('POST');

    // findPublished finds the album, not its photos; withdraw removes all of it.
    const found = await flickr.findPublished(req.reference, Date.now() - 60_000);
    expect(found).toMatchObject({ postId: post.postId, url: post.url, extra: { photos: set!.photoIds, photoset: [set!.id] } });
    await flickr.withdraw(found!);
    expect(fake.livePhotos()).toHaveLength(0);
    expect(fake.livePhotosets()).toHaveLength(0);
    await flickr.withdraw(post);
  });

  it('reach of an album is the sum of its photos\' views, in one call; photos and albums in one batch', async () => {
    const { flickr, fake } = await setup();
    const album = await flickr.publish(await appeal('Album appeal.', [await png(10, 10), await png(11, 10), await png(12, 10)]));
    const single = await flickr.publish(await appeal('Single appeal.'));
    fake.photoset(album.postId.slice(4))!.photoIds.forEach((id, i) => fake.setViews(id, [5, 7, 30][i]!));
    fake.setViews(single.postId, 12);
    const before = fake.requests.length;
    const reach = await flickr.reach([album.postId, single.postId, 'set:72177720399999999']);
    expect([...reach.entries()]).toEqual([[album.postId, { count: 42, kind: 'views' }], [single.postId, { count: 12, kind: 'views' }]]);
    expect(fake.requests.slice(before).map((r) => r.route)).toEqual(['flickr.people.getPhotos', 'flickr.photosets.getPhotos', 'flickr.photosets.getPhotos']);
    expect(fake.requestsTo('flickr.photosets.getPhotos')[0]!.params).toMatchObject({ extras: 'views', user_id: fake.nsid });
  });

  it('a wrong consumer or token secret → auth in plain words, nothing uploaded, no secret anywhere', async () => {
    for (const wrong of [{ apiSecret: 'not-the-secret' }, { oauthSecret: 'not-the-secret' }]) {
      const { flickr, fake, logger } = await setup({}, {}, wrong);
      const err = await rejection(flickr.publish(await appeal('Appeal with bad credentials.')));
      expect(err).toMatchObject({ code: 'auth', permanent: true, ambiguous: false });
      expect(err.userMessage).toBe('Flickr refused the credentials: check FLICKR_OAUTH_TOKEN and FLICKR_OAUTH_SECRET');
      expect(fake.requests.map((r) => [r.route, r.errorCode, r.authError])).toEqual([['flickr.test.login', 96, 'signature mismatch']]);
      expect(fake.photos).toHaveLength(0);
      expectNoSecrets(err, logger.lines);
      expect((await rejection(flickr.reach(['53100000001']))).code).toBe('auth');
    }
  });

  it('a token without write permission → forbidden, saying what permission it needs', async () => {
    const { flickr } = await setup({ perms: 'read' });
    const err = await rejection(flickr.publish(await appeal('Appeal with a read-only token.')));
    expect(err).toMatchObject({ code: 'forbidden', permanent: true });
    expect(err.userMessage).toMatch(/write permission/);
  });

  it('logs each call at debug as METHOD url [method] - status, never the query (the token and signature)', async () => {
    const { flickr, fake, logger } = await setup();
    const post = await flickr.publish(await appeal('Logged appeal.'));
    await flickr.reach([post.postId]);
    const messages = logger.lines.filter((l) => l.level === 'debug').map((l) => l.msg);
    expect(messages).toContain(`GET ${fake.apiUrl} flickr.test.login - 200`);
    expect(messages).toContain(`POST ${fake.uploadUrl} - 200`);
    expect(messages).toContain(`GET ${fake.apiUrl} flickr.people.getPhotos - 200`);
    const all = inspect(logger.lines, { depth: 10 });
    expect(all).not.toMatch(/oauth_signature|oauth_token/);
    expectNoSecrets(logger.lines);
  });

  it('checks the fence right before the first upload, also after a rate-limit wait, and lets its error through', async () => {
    let lost = false;
    const { flickr, fake } = await setup({}, { sleep: async () => { lost = true; } });
    fake.rateLimitNext('upload', 5);
    class Fenced extends Error {}
    const req = { ...(await appeal('Fenced appeal.')), fence: () => { if (lost) throw new Fenced('lease lost'); } };
    await expect(flickr.publish(req)).rejects.toBeInstanceOf(Fenced);
    expect(fake.requestsTo('upload')).toHaveLength(1);
    expect(fake.photos).toHaveLength(0);
  });

  it('an upload whose answer never came (Flickr took it): the timeout leads to a look, which finds it', async () => {
    const { flickr, fake } = await setup({}, { timeoutMs: 300 });
    const arrived = fake.hangNext('upload', { commit: true });
    const req = await appeal('Appeal whose answer is lost.');
    const publishing = flickr.publish(req);
    await arrived;
    const post = await publishing;
    expect(fake.livePhotos().map((p) => p.id)).toEqual([post.postId]);
    expect(fake.requestsTo('upload')).toHaveLength(1);
  });

  it('a lost answer on the second upload of an album: finds that photo, uploads nothing twice', async () => {
    const { flickr, fake } = await setup();
    fake.failNext('upload', { status: 502, commit: true, when: () => fake.photos.length === 1 });
    const post = await flickr.publish(await appeal('Album with a lost answer.', [await png(10, 10), await png(20, 10), await png(30, 10)]));
    expect(fake.photos).toHaveLength(3);
    expect(fake.requestsTo('upload')).toHaveLength(3);
    expect(post.extra?.photos).toEqual(fake.photos.map((p) => p.id));
  });

  it('a lost answer on creating the album: finds the album, does not create a second', async () => {
    const { flickr, fake } = await setup();
    fake.failNext('flickr.photosets.create', { status: 500, commit: true });
    const post = await flickr.publish(await appeal('Album whose creation answer is lost.', [await png(10, 10), await png(20, 10)]));
    expect(fake.photosets).toHaveLength(1);
    expect(post.postId).toBe(`set:${fake.photosets[0]!.id}`);
    expect(fake.photosets[0]!.photoIds).toHaveLength(2);
  });

  it('a permanent failure half-way through an album removes what was uploaded', async () => {
    const { flickr, fake } = await setup();
    fake.failNext('upload', { code: 8, message: 'Filesize too large', when: () => fake.photos.length === 1 });
    const err = await rejection(flickr.publish(await appeal('Album that fails.', [await png(10, 10), await png(20, 10)])));
    expect(err).toMatchObject({ code: 'invalid', permanent: true });
    expect(fake.livePhotos()).toHaveLength(0);
  });

  it('refuses a post without images, and what is not an image, before sending anything', async () => {
    const { flickr, fake } = await setup();
    expect((await rejection(flickr.publish({ ...(await appeal('No image.')), media: [] }))).code).toBe('invalid');
    const pdf = mediaFile(Buffer.from('%PDF-1.4'), 'application/pdf', 'doc.pdf');
    expect((await rejection(flickr.publish({ ...(await appeal('Not an image.')), media: [pdf] }))).code).toBe('invalid');
    expect(fake.requests).toHaveLength(0);
  });

  it('withdraw: a photo already gone counts as done; a malformed id is invalid', async () => {
    const { flickr, fake } = await setup();
    await flickr.withdraw({ postId: '53100000099', url: '' });
    expect(fake.requestsTo('flickr.photos.delete')[0]!.errorCode).toBe(1);
    await flickr.withdraw({ postId: 'set:72177720399999999', url: '' });
    expect((await rejection(flickr.withdraw({ postId: '../me', url: '' }))).code).toBe('invalid');
  });

  describe('reply', () => {
    const thanks = (ref: string) => `Update: found safe \u2014 thank you for sharing.\n\n${ref}`;

    it('comments on the album\'s first photo: a signed POST of photo_id and comment_text; the url is the comment\'s permalink', async () => {
      const { flickr, fake } = await setup();
      const req = await appeal('Three stills.', [await png(10, 10), await png(11, 10), await png(12, 10)]);
      const post = await flickr.publish(req);
      const [first, ...others] = fake.livePhotosets()[0]!.photoIds;
      const reply = await flickr.reply(post, thanks(req.reference));
      const [comment] = fake.commentsOn(first!);
      expect(fake.commentsOn(first!)).toHaveLength(1);
      expect(others.flatMap((id) => fake.commentsOn(id))).toEqual([]);
      expect(comment!.text).toBe(thanks(req.reference)); // line breaks and the dash intact: the signature matched
      expect(reply).toEqual({
        postId: comment!.id,
        url: `https://www.flickr.com/photos/${fake.nsid}/${first}/#comment${comment!.id.split('-').at(-1)}`,
        extra: { replyTo: [post.postId], photo: [first] },
      });
      const [sent] = fake.requestsTo('flickr.photos.comments.addComment');
      expect(sent).toMatchObject({ httpMethod: 'POST', status: 200, params: { photo_id: first, comment_text: thanks(req.reference), oauth_signature_method: 'HMAC-SHA1' } });
      expect(sent!.authError).toBeUndefined();
      expect(sent!.errorCode).toBeUndefined();
    });

    it('a single photo is commented on itself; where Flickr answers only the id, the url is the photo page', async () => {
      const { flickr, fake } = await setup();
      fake.commentAnswer = 'id-only';
      const req = await appeal('One still.');
      const post = await flickr.publish(req);
      const reply = await flickr.reply(post, thanks(req.reference));
      expect(fake.commentsOn(post.postId).map((c) => c.id)).toEqual([reply.postId]);
      expect(reply.url).toBe(`https://www.flickr.com/photos/${fake.nsid}/${post.postId}`);
      expect(reply.extra).toEqual({ replyTo: [post.postId], photo: [post.postId] });
    });

    it('an album known only by its id (no extra.photos): reads the album for its first photo', async () => {
      const { flickr, fake } = await setup();
      const req = await appeal('Two stills.', [await png(10, 10), await png(11, 10)]);
      const post = await flickr.publish(req);
      const first = fake.livePhotosets()[0]!.photoIds[0]!;
      const reply = await flickr.reply({ postId: post.postId, url: post.url }, thanks(req.reference));
      expect(reply.extra?.photo).toEqual([first]);
      expect(fake.commentsOn(first)).toHaveLength(1);
      expect(fake.requestsTo('flickr.photosets.getPhotos').at(-1)!.params).toMatchObject({ photoset_id: post.postId.slice(4), user_id: fake.nsid });
      // An album that is gone: not_found, and nothing is commented.
      const err = await rejection(flickr.reply({ postId: 'set:72177720399999999', url: '' }, 'Found safe.'));
      expect(err).toMatchObject({ code: 'not_found', permanent: true });
    });

    it('a lost answer (Flickr took the comment): ambiguous, never commented twice', async () => {
      const { flickr, fake } = await setup({}, { timeoutMs: 300 });
      const req = await appeal('Appeal whose follow-up answer is lost.');
      const post = await flickr.publish(req);
      const arrived = fake.hangNext('flickr.photos.comments.addComment', { commit: true });
      const replying = flickr.reply(post, thanks(req.reference));
      await arrived;
      const err = await rejection(replying);
      expect(err).toMatchObject({ code: 'unavailable', ambiguous: true, permanent: false });
      expect(fake.commentsOn(post.postId)).toHaveLength(1);
      expect(fake.requestsTo('flickr.photos.comments.addComment')).toHaveLength(1);
    });

    it('5xx or 105 on the comment: ambiguous, not repeated (even when Flickr did not take it)', async () => {
      const { flickr, fake, sleeps } = await setup();
      const req = await appeal('Appeal with a flaky follow-up.');
      const post = await flickr.publish(req);
      fake.failNext('flickr.photos.comments.addComment', { status: 502 });
      expect(await rejection(flickr.reply(post, thanks(req.reference)))).toMatchObject({ ambiguous: true, status: 502 });
      fake.failNext('flickr.photos.comments.addComment', { code: 105, message: 'Service currently unavailable' });
      expect(await rejection(flickr.reply(post, thanks(req.reference)))).toMatchObject({ ambiguous: true });
      expect(fake.requestsTo('flickr.photos.comments.addComment')).toHaveLength(2);
      expect(fake.commentsOn(post.postId)).toEqual([]);
      expect(sleeps).toEqual([]);
    });

    it('Flickr\'s addComment codes: 1 photo gone → not_found, 9 too fast → rate_limited (not permanent), 99 → forbidden; blank text is refused unsent', async () => {
      const { flickr, fake } = await setup();
      const req = await appeal('Appeal whose follow-up is refused.');
      const post = await flickr.publish(req);
      fake.failNext('flickr.photos.comments.addComment', { code: 9, message: 'User is posting comments too fast.' });
      expect(await rejection(flickr.reply(post, 'Found safe.'))).toMatchObject({ code: 'rate_limited', permanent: false, ambiguous: false });
      fake.perms = 'read';
      expect((await rejection(flickr.reply(post, 'Found safe.'))).code).toBe('forbidden');
      fake.perms = 'delete';
      const sent = fake.requests.length;
      expect((await rejection(flickr.reply(post, '  \n '))).code).toBe('invalid');
      expect(fake.requests).toHaveLength(sent);
      await flickr.withdraw(post);
      const err = await rejection(flickr.reply(post, 'Found safe.'));
      expect(err).toMatchObject({ code: 'not_found', permanent: true });
      expect(err.userMessage).toMatch(/no longer on Flickr/);
    });

    it('withdraw of a reply deletes the comment only; a comment or photo already gone counts as done', async () => {
      const { flickr, fake } = await setup();
      const req = await appeal('Appeal to follow up.');
      const post = await flickr.publish(req);
      const reply = await flickr.reply(post, thanks(req.reference));
      await flickr.withdraw(reply);
      expect(fake.requestsTo('flickr.photos.comments.deleteComment').map((r) => [r.httpMethod, r.params.comment_id, r.status])).toEqual([['POST', reply.postId, 200]]);
      expect(fake.commentsOn(post.postId)).toEqual([]);
      expect(fake.livePhotos().map((p) => p.id)).toEqual([post.postId]);
      expect(fake.requestsTo('flickr.photos.delete')).toHaveLength(0);
      await flickr.withdraw(reply); // 2 Comment not found
      const again = await flickr.reply(post, thanks(req.reference));
      await flickr.withdraw(post);
      await flickr.withdraw(again); // 1 Photo not found (the photo went with the post)
      expect(fake.requestsTo('flickr.photos.comments.deleteComment').map((r) => r.errorCode)).toEqual([undefined, 2, 1]);
      expect((await rejection(flickr.withdraw({ postId: '../me', url: '', extra: { replyTo: [post.postId] } }))).code).toBe('invalid');
    });
  });

  it('no Network method leaks a secret through an error, whatever Flickr answers', async () => {
    const { flickr, fake } = await setup({}, { maxAttempts: 1 });
    const errors: unknown[] = [];
    for (const f of [{ code: 96 }, { code: 98 }, { code: 99 }, { code: 100 }, { code: 105 }, { status: 500 }]) {
      fake.failNext('flickr.people.getPhotos', f);
      errors.push(await flickr.reach(['53100000001']).catch((e: unknown) => e));
    }
    expect(errors.every((e) => e instanceof Error && e.name === 'NetworkError')).toBe(true);
    expectNoSecrets(errors);
  });
});
