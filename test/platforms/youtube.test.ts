/**
 * The YouTube adapter: the Network contract against the fake YouTube (one small MP4 per post),
 * then what is particular to YouTube (resumable uploads, the Pacific quota day, OAuth refresh).
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { YouTubeConfig } from '../../src/config.js';
import { createYouTube, pacificMidnightAfter, type YouTubeDeps } from '../../src/platforms/youtube/index.js';
import { FAKE_YOUTUBE_SCOPES, startFakeYouTube, YOUTUBE_FORCE_SSL_SCOPE, type FakeYouTube, type FakeYouTubeOptions, type YouTubeRoute } from '../fakes/youtube.js';
import { tinyMp4 } from '../helpers/video.js';
import { captureLogger, freshReference, mediaFile, networkContract, rejection, request, type FakeNetworkControl, type NetworkOp } from './contract.js';

const CREDS = {
  clientId: 'yt-test-client.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-yt-test-client-secret-SECRET1',
  refreshToken: '1//yt-test-refresh-token-SECRET2',
};
const SECRETS = [CREDS.clientSecret, CREDS.refreshToken];

function config(fake: FakeYouTube, overrides: Partial<YouTubeConfig> = {}): YouTubeConfig {
  return { ...CREDS, privacy: 'unlisted', apiUrl: `${fake.url}/`, tokenUrl: fake.tokenUrl, ...overrides };
}

const ROUTE_OP: Record<YouTubeRoute, NetworkOp> = {
  token: 'account', channels: 'find', playlistItems: 'find', videosSnippet: 'find', insertStatus: 'find',
  insertStart: 'upload', insertChunk: 'upload', insertFinal: 'publish', videosStats: 'reach', videosDelete: 'withdraw',
  comment: 'reply', deleteComment: 'withdraw',
};
const OP_ROUTE: Record<NetworkOp, YouTubeRoute> = {
  account: 'token', upload: 'insertStart', publish: 'insertFinal', reach: 'videosStats', find: 'playlistItems', withdraw: 'videosDelete',
  reply: 'comment',
};

/** The contract's generic handle on the fake YouTube. "find" includes asking an upload session how far it got. */
export function youtubeControl(fake: FakeYouTube): FakeNetworkControl {
  return {
    publishedPosts: () => fake.liveVideos().map((v) => ({ id: v.id, text: v.description, media: [v.bytes] })),
    replies: (videoId) => fake.commentsOn(videoId).map((c) => ({ id: c.id, text: c.text })),
    setViews: (id, n) => fake.setViews(id, n),
    failNext: (op, f) => {
      const route = OP_ROUTE[op];
      if (f.kind === 'server') fake.failNext(route, { status: f.status ?? 503, times: f.times ?? 1, commit: f.commit ?? false });
      if (f.kind === 'auth') fake.failNext(route, { status: 401, reason: 'authError', message: 'Invalid Credentials' });
      if (f.kind === 'duplicate') fake.failNext(route, { status: 409, reason: 'duplicate', message: 'The video already exists.' });
      if (f.kind === 'invalid') {
        if (route === 'comment') fake.failNext(route, { status: 400, reason: 'invalidCommentThreadMetadata', domain: 'youtube.commentThread', message: 'The request metadata is invalid.' });
        else fake.failNext(route, { status: 400, reason: 'invalidTitle', domain: 'youtube.video', message: 'The request metadata specifies an invalid video title.' });
      }
    },
    rateLimitNext: (op, seconds) => fake.rateLimitNext(OP_ROUTE[op], seconds),
    ops: () => fake.requests.filter((r) => r.route).map((r) => ({ op: ROUTE_OP[r.route!], status: r.status })),
    close: () => fake.close(),
  };
}

const sampleVideo = async () => [mediaFile(await tinyMp4(), 'video/mp4', 'appeal.mp4')];

networkContract('youtube', async ({ logger, sleep }) => {
  const fake = await startFakeYouTube(CREDS);
  return {
    network: createYouTube(config(fake), { logger, sleep }),
    fake: youtubeControl(fake),
    secrets: SECRETS,
    unknownPostId: 'AAAAAAAAAAA',
    reachKind: 'views',
    needs: 'video',
    sampleMedia: sampleVideo,
  };
});

describe('YouTube adapter', () => {
  const fakes: FakeYouTube[] = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });

  async function setup(deps: Partial<YouTubeDeps> = {}, cfg: Partial<YouTubeConfig> = {}) {
    const fake = await startFakeYouTube(CREDS);
    fakes.push(fake);
    const logger = captureLogger();
    const sleeps: number[] = [];
    const yt = createYouTube(config(fake, cfg), { logger, sleep: async (ms) => { sleeps.push(ms); }, ...deps });
    return { fake, yt, logger, sleeps };
  }
  const appeal = async (words: string, ref = freshReference()) => ({ ...request(`${words} Call 101.\n\n${ref}`, ref, await sampleVideo()), title: `Appeal: ${words}`.slice(0, 100) });

  function expectNoSecrets(...things: unknown[]): void {
    const text = things.map((t) => inspect(t, { depth: 10 })).join('\n') + JSON.stringify(things);
    for (const s of SECRETS) expect(text.includes(s), 'a secret leaked').toBe(false);
    expect(text).not.toMatch(/ya29\.fake-/); // nor an access token
  }

  it('uploads with the resumable protocol: title, description, privacy, exact bytes, and a watch URL', async () => {
    const { yt, fake, logger } = await setup();
    const req = await appeal('Witness appeal on the A64.');
    const post = await yt.publish(req);
    const v = fake.video(post.postId)!;
    expect(v).toMatchObject({ title: req.title, description: req.text, privacy: 'unlisted', mime: 'video/mp4' });
    expect(v.bytes.equals(req.media[0]!.bytes)).toBe(true);
    expect(post.url).toBe(`https://www.youtube.com/watch?v=${post.postId}`);
    expect(fake.requestsTo('insertStart')[0]!.query).toMatchObject({ uploadType: 'resumable', part: 'snippet,status' });
    expect(fake.requests.map((r) => r.route)).toEqual(['token', 'insertStart', 'insertFinal']);
    // Logged as METHOD url - status, without the query (a session URL's upload_id is as good as a credential).
    expect(logger.lines.some((l) => l.msg === `POST ${fake.url}/upload/youtube/v3/videos?… - 200`)).toBe(true);
    expect(logger.lines.some((l) => /upload_id=/.test(l.msg ?? ''))).toBe(false);
    expectNoSecrets(logger.lines);
  });

  it('sends a large video in 256 KiB-multiple chunks with Content-Range', async () => {
    const { yt, fake } = await setup({ chunkBytes: 300 * 1024 }); // rounded down to 256 KiB
    const big = Buffer.alloc(600 * 1024, 9);
    const post = await yt.publish({ ...(await appeal('Chunked appeal.')), media: [mediaFile(big, 'video/mp4', 'big.mp4')] });
    expect(fake.video(post.postId)!.bytes.equals(big)).toBe(true);
    expect(fake.requests.filter((r) => r.route?.startsWith('insert')).map((r) => [r.route, r.status])).toEqual([
      ['insertStart', 200], ['insertChunk', 308], ['insertChunk', 308], ['insertFinal', 201],
    ]);
  });

  it('an upload cut at 50 % resumes from the server\'s offset, not from the start', async () => {
    const { yt, fake } = await setup();
    const bytes = Buffer.alloc(2 * 1024 * 1024, 3);
    fake.cutUploadAt(0.5);
    const post = await yt.publish({ ...(await appeal('Resumed appeal.')), media: [mediaFile(bytes, 'video/mp4', 'cut.mp4')] });
    expect(fake.video(post.postId)!.bytes.equals(bytes)).toBe(true);
    const [s] = fake.sessions;
    expect(fake.sessions).toHaveLength(1);
    expect(s!.bytesReceived).toBeGreaterThanOrEqual(bytes.length);
    expect(s!.bytesReceived).toBeLessThan(bytes.length * 1.1); // not 1.5×: the first half went once
    expect(fake.requests.filter((r) => r.route?.startsWith('insert')).map((r) => [r.route, r.status])).toEqual([
      ['insertStart', 200], ['insertFinal', 0], ['insertStatus', 308], ['insertFinal', 201],
    ]);
  });

  it('quotaExceeded: rate_limited until midnight Pacific, in plain words; nothing more is sent that day', async () => {
    const now = Date.UTC(2026, 6, 1, 18, 30); // 11:30 PDT
    const { yt, fake } = await setup({ now: () => now });
    fake.quotaExceededNext('insertStart');
    const err = await rejection(yt.publish(await appeal('Appeal over quota.')));
    expect(err).toMatchObject({ code: 'rate_limited', permanent: false, status: 403, retryAfterMs: Date.UTC(2026, 6, 2, 7, 0) - now });
    expect(err.userMessage).toBe('YouTube quota exhausted until midnight Pacific (07:00 UTC)');
    const before = fake.requests.length;
    expect((await rejection(yt.reach(['AAAAAAAAAAA']))).code).toBe('rate_limited');
    expect(fake.requests.length).toBe(before);
    expect(pacificMidnightAfter(Date.UTC(2026, 0, 15, 12))).toBe(Date.UTC(2026, 0, 16, 8)); // PST in winter
  });

  it('counts quota units per Pacific day and refuses an upload that cannot fit, before sending it', async () => {
    const { yt, fake } = await setup({ dailyQuotaUnits: 2_000 });
    await yt.publish(await appeal('First of the day.'));
    const err = await rejection(yt.publish(await appeal('Second of the day.')));
    expect(err.code).toBe('rate_limited');
    expect(err.userMessage).toMatch(/^YouTube quota exhausted until midnight Pacific \(\d\d:\d\d UTC\)$/);
    expect(fake.requestsTo('insertStart')).toHaveLength(1);
  });

  it('reads reach 50 at a time: 120 ids are 3 calls; views are numbers; more than 50 at once is refused', async () => {
    const { yt, fake } = await setup();
    const post = await yt.publish(await appeal('Watched appeal.'));
    fake.setViews(post.postId, 4321);
    const ids = [post.postId, ...Array.from({ length: 119 }, (_, i) => `B${String(i).padStart(10, '0')}`)];
    const out = new Map();
    for (let i = 0; i < ids.length; i += yt.reachBatchSize) for (const [k, v] of await yt.reach(ids.slice(i, i + yt.reachBatchSize))) out.set(k, v);
    expect(fake.requestsTo('videosStats')).toHaveLength(3);
    expect(fake.requestsTo('videosStats')[0]!.query.id!.split(',')).toHaveLength(50);
    expect([...out]).toEqual([[post.postId, { count: 4321, kind: 'views' }]]);
    expect((await rejection(yt.reach(ids.slice(0, 51)))).code).toBe('invalid');
  });

  it('a bad refresh token: auth, naming the setting, nothing uploaded, no secret anywhere', async () => {
    const { yt, fake, logger } = await setup({}, { refreshToken: '1//not-the-token' });
    const err = await rejection(yt.publish(await appeal('Appeal with a bad token.')));
    expect(err).toMatchObject({ code: 'auth', permanent: true, ambiguous: false });
    expect(err.userMessage).toBe('YouTube refused the credentials: check YOUTUBE_REFRESH_TOKEN');
    expect(fake.requests.map((r) => r.route)).toEqual(['token']);
    expect((await rejection(yt.reach(['AAAAAAAAAAA']))).code).toBe('auth');
    expect((await rejection(yt.findPublished('Ref X', 0))).code).toBe('auth');
    expectNoSecrets(err, logger.lines);
  });

  it('no method leaks a secret through an error, whatever YouTube answers', async () => {
    const { yt, fake, logger } = await setup({ maxAttempts: 1 });
    const errors: unknown[] = [];
    for (const [status, reason] of [[400, 'badRequest'], [401, 'authError'], [403, 'forbidden'], [404, 'notFound'], [500, 'backendError']] as const) {
      fake.failNext('videosStats', { status, reason });
      errors.push(await yt.reach(['AAAAAAAAAAA']).catch((e: unknown) => e));
    }
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['invalid', 'auth', 'forbidden', 'not_found', 'unavailable']);
    expectNoSecrets(errors, logger.lines);
  });

  it('a googleapis call that times out is a sanitised NetworkError (no Gaxios error, no token), repeated for reads', async () => {
    const { yt, fake, logger, sleeps } = await setup({ timeoutMs: 150, maxAttempts: 2 });
    fake.setDelay(400);
    const err = await rejection(yt.reach(['AAAAAAAAAAA']));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: false, permanent: false });
    expect(err.userMessage).toMatch(/no answer in time/);
    expect(sleeps).toHaveLength(1); // backed off once between the two tries
    expectNoSecrets(err, logger.lines);
  });

  it('400 uploadLimitExceeded is rate_limited in plain words, not retried', async () => {
    const { yt, fake } = await setup();
    fake.failNext('insertStart', { status: 400, reason: 'uploadLimitExceeded', domain: 'youtube.video', message: 'The user has exceeded the number of videos they may upload.' });
    const err = await rejection(yt.publish(await appeal('Appeal over the upload limit.')));
    expect(err).toMatchObject({ code: 'rate_limited', permanent: false });
    expect(err.userMessage).toMatch(/uploaded as many videos as it may/);
    expect(fake.requestsTo('insertStart')).toHaveLength(1);
  });

  it('checks the fence before opening the session and before the last chunk; its error passes untouched', async () => {
    class Fenced extends Error {}
    const { yt, fake } = await setup();
    let calls = 0;
    const req = { ...(await appeal('Fenced appeal.')), fence: () => { calls += 1; if (calls === 2) throw new Fenced('lease lost'); } };
    await expect(yt.publish(req)).rejects.toBeInstanceOf(Fenced);
    expect(fake.requestsTo('insertStart')).toHaveLength(1);
    expect(fake.requestsTo('insertFinal')).toHaveLength(0);
    expect(fake.liveVideos()).toHaveLength(0);
  });

  it('a final chunk whose answer never comes: the session says the video exists, so it is not uploaded again', async () => {
    const { yt, fake } = await setup({ timeoutMs: 300 });
    const arrived = fake.hangNext('insertFinal', { commit: true });
    const publishing = yt.publish(await appeal('Appeal whose answer is lost.'));
    await arrived;
    const post = await publishing;
    expect(fake.liveVideos().map((v) => v.id)).toEqual([post.postId]);
    expect(fake.requestsTo('insertStatus').map((r) => r.status)).toEqual([200]);
  });

  it('refuses anything but exactly one MP4/QuickTime video, and bad titles, before sending anything', async () => {
    const { yt, fake } = await setup();
    const base = await appeal('Refused appeal.');
    const png = mediaFile(Buffer.from('png'), 'image/png', 'a.png');
    for (const req of [
      { ...base, media: [] }, { ...base, media: [png] }, { ...base, media: [...base.media, ...base.media] },
      { ...base, title: 'x'.repeat(101) }, { ...base, title: 'A <b>title</b>' },
    ]) expect((await rejection(yt.publish(req))).code).toBe('invalid');
    expect(fake.requests).toHaveLength(0);
  });

  it('finds a video by the full description even when playlist snippets are shortened', async () => {
    const { yt, fake } = await setup();
    const req = await appeal(`A long appeal ${'with many words '.repeat(10)}`);
    const post = await yt.publish(req);
    expect((await yt.findPublished(req.reference, Date.now() - 60_000))?.postId).toBe(post.postId);
    expect(fake.requestsTo('playlistItems')[0]!.query).toMatchObject({ part: 'snippet', maxResults: '50', playlistId: fake.uploadsPlaylistId });
    expect(fake.requestsTo('videosSnippet')).toHaveLength(1);
  });
});

describe('YouTube adapter: replies (comments)', () => {
  const fakes: FakeYouTube[] = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });

  async function setup(deps: Partial<YouTubeDeps> = {}, fakeOpts: Partial<FakeYouTubeOptions> = {}) {
    const fake = await startFakeYouTube({ ...CREDS, ...fakeOpts });
    fakes.push(fake);
    const logger = captureLogger();
    const sleeps: number[] = [];
    const yt = createYouTube(config(fake), { logger, sleep: async (ms) => { sleeps.push(ms); }, ...deps });
    const ref = freshReference();
    const parent = await yt.publish({ ...request(`Missing: Jo, 12. Call 101.\n\n${ref}`, ref, await sampleVideo()), title: 'Missing: Jo' });
    return { fake, yt, logger, sleeps, parent, ref };
  }

  it('comments with commentThreads.insert?part=snippet at the configured root; the link points at the comment', async () => {
    const { fake, yt, parent, ref, logger } = await setup();
    const text = `Jo has been found safe \u2014 thank you for sharing. ${ref}`;
    const reply = await yt.reply(parent, text);
    const [req] = fake.requestsTo('comment');
    expect(req).toMatchObject({ method: 'POST', path: '/youtube/v3/commentThreads', query: { part: 'snippet' }, status: 200 });
    const [c] = fake.commentsOn(parent.postId);
    expect(c).toMatchObject({ videoId: parent.postId, text });
    expect(reply).toEqual({
      postId: c!.id, url: `https://www.youtube.com/watch?v=${parent.postId}&lc=${c!.id}`, createdAt: c!.publishedAt, extra: { replyTo: [parent.postId] },
    });
    expect(logger.lines.some((l) => l.msg === `POST ${fake.url}/youtube/v3/commentThreads?part=snippet - 200`)).toBe(true);
    // Counted on the video, like YouTube.
    await yt.reach([parent.postId]);
    expect(fake.video(parent.postId)).toBeDefined();
  });

  it('withdraws a comment with comments.delete?id= (204), then 404 commentNotFound counts as done; the video stays', async () => {
    const { fake, yt, parent } = await setup();
    const reply = await yt.reply(parent, 'Found safe.');
    await yt.withdraw(reply);
    await yt.withdraw(reply);
    expect(fake.requestsTo('deleteComment').map((r) => [r.method, r.path, r.query.id, r.status])).toEqual([
      ['DELETE', '/youtube/v3/comments', reply.postId, 204], ['DELETE', '/youtube/v3/comments', reply.postId, 404],
    ]);
    expect(fake.requestsTo('videosDelete')).toHaveLength(0);
    expect(fake.liveVideos().map((v) => v.id)).toEqual([parent.postId]);
  });

  it('withdrawing a comment whose video is gone is done: 404, or a refusal while the video no longer exists', async () => {
    const { fake, yt, parent } = await setup();
    const reply = await yt.reply(parent, 'Found safe.');
    const other = await yt.reply(parent, 'Thanks again.');
    await yt.withdraw(parent);
    await yt.withdraw(reply); // 404 commentNotFound
    fake.failNext('deleteComment', { status: 403, reason: 'forbidden', message: 'The comment could not be deleted.' });
    await yt.withdraw(other); // 403, and videos.list says the video is gone
    expect(fake.requestsTo('deleteComment').map((r) => r.status)).toEqual([404, 403]);
    expect(fake.requestsTo('videosSnippet').at(-1)!.query).toMatchObject({ part: 'id', id: parent.postId });
  });

  it('a refusal to delete a comment on a live video is not swallowed', async () => {
    const { fake, yt, parent } = await setup();
    const reply = await yt.reply(parent, 'Found safe.');
    fake.failNext('deleteComment', { status: 403, reason: 'forbidden', message: 'The comment could not be deleted.' });
    expect((await rejection(yt.withdraw(reply))).code).toBe('forbidden');
    expect(fake.commentsOn(parent.postId)).toHaveLength(1);
  });

  it('a comment whose answer was lost (5xx, or no answer) is ambiguous and never sent twice', async () => {
    const { fake, yt, parent } = await setup({ timeoutMs: 300 });
    fake.failNext('comment', { status: 503 });
    const err = await rejection(yt.reply(parent, 'Found safe.'));
    expect(err).toMatchObject({ code: 'unavailable', ambiguous: true, permanent: false, status: 503 });
    expect(err.userMessage).toMatch(/look at the video's comments before posting the follow-up again/);
    const arrived = fake.hangNext('comment', { commit: true });
    const replying = yt.reply(parent, 'Found safe, again.');
    await arrived;
    expect((await rejection(replying)).ambiguous).toBe(true);
    expect(fake.requestsTo('comment')).toHaveLength(2);
    expect(fake.commentsOn(parent.postId).map((c) => c.text)).toEqual(['Found safe, again.']);
  });

  it('a token without youtube.force-ssl: auth, naming the scope; nothing commented', async () => {
    const { fake, yt, parent } = await setup({}, { scopes: FAKE_YOUTUBE_SCOPES.filter((x) => x !== YOUTUBE_FORCE_SSL_SCOPE) });
    const err = await rejection(yt.reply(parent, 'Found safe.'));
    expect(err).toMatchObject({ code: 'auth', permanent: true, status: 403 });
    expect(err.userMessage).toMatch(/youtube\.force-ssl/);
    expect(fake.requestsTo('comment').map((r) => r.status)).toEqual([403]);
    expect(fake.comments).toHaveLength(0);
  });

  it('comments turned off, or the video gone: forbidden / not_found in plain words, asked once', async () => {
    const { fake, yt, parent } = await setup();
    fake.disableComments(parent.postId);
    const off = await rejection(yt.reply(parent, 'Found safe.'));
    expect(off).toMatchObject({ code: 'forbidden', permanent: true });
    expect(off.userMessage).toMatch(/comments are turned off/);
    await yt.withdraw(parent);
    const gone = await rejection(yt.reply(parent, 'Found safe.'));
    expect(gone).toMatchObject({ code: 'not_found', permanent: true });
    expect(fake.requestsTo('comment').map((r) => r.status)).toEqual([403, 404]);
  });

  it('refuses a bad video id, an empty or over-long text, and a bad comment id, before sending anything', async () => {
    const { fake, yt, parent } = await setup();
    const before = fake.requests.length;
    expect((await rejection(yt.reply({ postId: 'not a video', url: '' }, 'Found safe.'))).code).toBe('invalid');
    expect((await rejection(yt.reply(parent, ' \n '))).code).toBe('invalid');
    expect((await rejection(yt.reply(parent, 'x'.repeat(10_001)))).code).toBe('invalid');
    expect((await rejection(yt.withdraw({ postId: '../videos', url: '', extra: { replyTo: [parent.postId] } }))).code).toBe('invalid');
    expect(fake.requests).toHaveLength(before);
  });

  it('spends 50 quota units per comment and per deletion', async () => {
    const { yt, parent } = await setup({ dailyQuotaUnits: 1_600 + 50 + 50 });
    const reply = await yt.reply(parent, 'Found safe.');
    await yt.withdraw(reply);
    expect((await rejection(yt.reply(parent, 'One too many.'))).code).toBe('rate_limited');
  });
});
