/**
 * The fake YouTube itself, spoken to with plain fetch: the token grant, the Bearer check, the
 * resumable protocol (308 + Range, status queries, a cut connection), lists and deletes.
 */
import { readFileSync } from 'node:fs';
import { google } from 'googleapis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_YOUTUBE_SCOPES, startFakeYouTube, YOUTUBE_FORCE_SSL_SCOPE, type FakeYouTube } from './youtube.js';

const CREDS = { clientId: 'cid', clientSecret: 'csecret', refreshToken: 'rtoken' };

describe('fake YouTube', () => {
  let yt: FakeYouTube;
  beforeEach(async () => {
    yt = await startFakeYouTube(CREDS);
  });
  afterEach(async () => {
    await yt.close();
  });

  const tokenFor = async (refreshToken = CREDS.refreshToken) => fetch(yt.tokenUrl, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CREDS.clientId, client_secret: CREDS.clientSecret }),
  });
  const auth = async () => ({ authorization: `Bearer ${((await (await tokenFor()).json()) as { access_token: string }).access_token}` });
  const start = async (headers: Record<string, string>, total: number) => {
    const res = await fetch(`${yt.url}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`, {
      method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'x-upload-content-length': String(total), 'x-upload-content-type': 'video/mp4' },
      body: JSON.stringify({ snippet: { title: 'T', description: 'D\n\nRef 1' }, status: { privacyStatus: 'unlisted' } }),
    });
    expect(res.status).toBe(200);
    return res.headers.get('location')!;
  };

  it('grants tokens for the refresh token only, and checks the Bearer token on API calls', async () => {
    const bad = await tokenFor('wrong');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    const anon = await fetch(`${yt.url}/youtube/v3/videos?part=statistics&id=AAAAAAAAAAA`);
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { errors: Array<{ reason: string }> } }).error.errors[0]!.reason).toBe('authError');
    const ok = await fetch(`${yt.url}/youtube/v3/videos?part=statistics&id=AAAAAAAAAAA`, { headers: await auth() });
    expect(await ok.json()).toMatchObject({ kind: 'youtube#videoListResponse', items: [] });
  });

  it('resumable upload: chunks answer 308 + Range, a status query says where it is, the last chunk gives the video', async () => {
    const h = await auth();
    const bytes = Buffer.alloc(256 * 1024 + 10, 1);
    const session = await start(h, bytes.length);
    const first = await fetch(session, { method: 'PUT', headers: { ...h, 'content-range': `bytes 0-${256 * 1024 - 1}/${bytes.length}` }, body: bytes.subarray(0, 256 * 1024), redirect: 'manual' });
    expect([first.status, first.headers.get('range')]).toEqual([308, `bytes=0-${256 * 1024 - 1}`]);
    const status = await fetch(session, { method: 'PUT', headers: { ...h, 'content-range': `bytes */${bytes.length}` }, redirect: 'manual' });
    expect(status.status).toBe(308);
    const last = await fetch(session, { method: 'PUT', headers: { ...h, 'content-range': `bytes ${256 * 1024}-${bytes.length - 1}/${bytes.length}` }, body: bytes.subarray(256 * 1024) });
    expect(last.status).toBe(201);
    const video = (await last.json()) as { id: string; snippet: { title: string }; status: { privacyStatus: string } };
    expect(video).toMatchObject({ snippet: { title: 'T' }, status: { privacyStatus: 'unlisted', uploadStatus: 'uploaded' } });
    expect(yt.video(video.id)!.bytes.equals(bytes)).toBe(true);
    expect(yt.sessions[0]!.bytesReceived).toBe(bytes.length);

    yt.setViews(video.id, 12);
    const list = await (await fetch(`${yt.url}/youtube/v3/videos?part=statistics&id=${video.id}&id=AAAAAAAAAAA`, { headers: h })).json() as { items: Array<{ id: string; statistics: { viewCount: unknown } }> };
    expect(list.items).toEqual([expect.objectContaining({ id: video.id, statistics: expect.objectContaining({ viewCount: '12' }) })]);
    const mine = await (await fetch(`${yt.url}/youtube/v3/channels?part=contentDetails&mine=true`, { headers: h })).json() as { items: Array<{ contentDetails: { relatedPlaylists: { uploads: string } } }> };
    expect(mine.items[0]!.contentDetails.relatedPlaylists.uploads).toBe(yt.uploadsPlaylistId);
    const items = await (await fetch(`${yt.url}/youtube/v3/playlistItems?part=snippet&maxResults=50&playlistId=${yt.uploadsPlaylistId}`, { headers: h })).json() as { items: Array<{ snippet: { resourceId: { videoId: string } } }> };
    expect(items.items.map((i) => i.snippet.resourceId.videoId)).toEqual([video.id]);

    expect((await fetch(`${yt.url}/youtube/v3/videos?id=${video.id}`, { method: 'DELETE', headers: h })).status).toBe(204);
    const again = await fetch(`${yt.url}/youtube/v3/videos?id=${video.id}`, { method: 'DELETE', headers: h });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: { errors: Array<{ reason: string }> } }).error.errors[0]!.reason).toBe('videoNotFound');
  });

  it('cutUploadAt keeps the bytes that arrived and drops the connection; the status query reports them', async () => {
    const h = await auth();
    const bytes = Buffer.alloc(1024 * 1024, 2);
    const session = await start(h, bytes.length);
    yt.cutUploadAt(0.5);
    await expect(fetch(session, { method: 'PUT', headers: { ...h, 'content-range': `bytes 0-${bytes.length - 1}/${bytes.length}` }, body: bytes })).rejects.toThrow();
    const status = await fetch(session, { method: 'PUT', headers: { ...h, 'content-range': `bytes */${bytes.length}` }, redirect: 'manual' });
    expect([status.status, status.headers.get('range')]).toEqual([308, `bytes=0-${bytes.length / 2 - 1}`]);
  });

  it('scripts: quotaExceeded and rate limits in Google\'s error shape', async () => {
    const h = await auth();
    yt.quotaExceededNext('videosStats');
    const q = await fetch(`${yt.url}/youtube/v3/videos?part=statistics&id=AAAAAAAAAAA`, { headers: h });
    expect(q.status).toBe(403);
    expect(await q.json()).toMatchObject({ error: { code: 403, errors: [{ domain: 'youtube.quota', reason: 'quotaExceeded' }] } });
    yt.rateLimitNext('videosStats', 30);
    const r = await fetch(`${yt.url}/youtube/v3/videos?part=statistics&id=AAAAAAAAAAA`, { headers: h });
    expect([r.status, r.headers.get('retry-after')]).toEqual([429, '30']);
    expect(yt.requestsTo('videosStats').map((x) => x.status)).toEqual([403, 429]);
  });
});

// ---------------------------------------------------------------- comments, against the Discovery document

interface DiscoverySchema { type?: string; $ref?: string; properties?: Record<string, DiscoverySchema>; items?: DiscoverySchema; format?: string; enum?: string[] }
const DISCOVERY = JSON.parse(readFileSync(new URL('../fixtures/youtube/discovery-subset.json', import.meta.url), 'utf8')) as {
  methods: Record<string, { path: string; httpMethod: string; parameters: Record<string, { required?: boolean }>; scopes: string[] }>;
  schemas: Record<string, DiscoverySchema>;
};

/** Every field of `value` is one the Discovery schema has, with its type (refs followed). */
function expectSchema(value: unknown, schema: DiscoverySchema, at = '$'): void {
  const s = schema.$ref ? DISCOVERY.schemas[schema.$ref]! : schema;
  if (s.type === 'object') {
    expect(typeof value === 'object' && value !== null && !Array.isArray(value), `${at} is an object`).toBe(true);
    for (const [k, v] of Object.entries(value as object)) {
      expect(s.properties, `${at} has no ${k} in the Discovery schema`).toHaveProperty(k);
      expectSchema(v, s.properties![k]!, `${at}.${k}`);
    }
  } else if (s.type === 'array') {
    expect(Array.isArray(value), `${at} is an array`).toBe(true);
    (value as unknown[]).forEach((v, i) => expectSchema(v, s.items!, `${at}[${i}]`));
  } else if (s.type === 'string') {
    expect(typeof value, at).toBe('string');
    if (s.enum) expect(s.enum, at).toContain(value);
    if (s.format === 'date-time') expect(Number.isFinite(Date.parse(value as string)), at).toBe(true);
  } else if (s.type === 'integer') {
    expect(Number.isInteger(value), at).toBe(true);
  } else if (s.type === 'boolean') {
    expect(typeof value, at).toBe('boolean');
  }
}

describe('fake YouTube: comments', () => {
  let yt: FakeYouTube;
  afterEach(async () => {
    await yt.close();
  });

  async function withVideo(scopes?: readonly string[]) {
    yt = await startFakeYouTube({ ...CREDS, ...(scopes ? { scopes } : {}) });
    const token = ((await (await fetch(yt.tokenUrl, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: CREDS.refreshToken, client_id: CREDS.clientId, client_secret: CREDS.clientSecret }),
    })).json()) as { access_token: string; scope: string });
    const h = { authorization: `Bearer ${token.access_token}` };
    const res = await fetch(`${yt.url}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`, {
      method: 'POST', headers: { ...h, 'content-type': 'application/json', 'x-upload-content-length': '3', 'x-upload-content-type': 'video/mp4' },
      body: JSON.stringify({ snippet: { title: 'T', description: 'D' }, status: { privacyStatus: 'unlisted' } }),
    });
    const fin = await fetch(res.headers.get('location')!, { method: 'PUT', headers: { ...h, 'content-range': 'bytes 0-2/3' }, body: Buffer.from('abc') });
    const videoId = ((await fin.json()) as { id: string }).id;
    const comment = (body: unknown, query = 'part=snippet') => fetch(`${yt.url}/youtube/v3/commentThreads?${query}`, {
      method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const del = (id: string) => fetch(`${yt.url}/youtube/v3/comments?id=${encodeURIComponent(id)}`, { method: 'DELETE', headers: h });
    const reason = async (res: Response) => ((await res.json()) as { error: { errors: Array<{ reason: string }> } }).error.errors[0]!.reason;
    return { h, videoId, comment, del, reason, grantedScope: token.scope };
  }
  const thread = (videoId: unknown, text: unknown) => ({ snippet: { videoId, topLevelComment: { snippet: { textOriginal: text } } } });

  it('serves what googleapis sends for commentThreads.insert and comments.delete, at the Discovery paths', async () => {
    const { videoId } = await withVideo();
    const oauth = new google.auth.OAuth2({ clientId: CREDS.clientId, clientSecret: CREDS.clientSecret, endpoints: { oauth2TokenUrl: yt.tokenUrl } });
    oauth.setCredentials({ refresh_token: CREDS.refreshToken });
    const api = google.youtube({ version: 'v3', auth: oauth, rootUrl: `${yt.url}/`, retry: false });
    const res = await api.commentThreads.insert({ part: ['snippet'], requestBody: { snippet: { videoId, topLevelComment: { snippet: { textOriginal: 'Found safe \u2014 thanks' } } } } });
    expect(res.status).toBe(200);
    expectSchema(res.data, { $ref: 'CommentThread' });
    const insert = DISCOVERY.methods['commentThreads.insert']!;
    expect(yt.requestsTo('comment').at(-1)).toMatchObject({ method: insert.httpMethod, path: `/${insert.path}`, query: { part: 'snippet' } });
    expect(insert.scopes).toEqual([YOUTUBE_FORCE_SSL_SCOPE]);
    const id = res.data.snippet!.topLevelComment!.id!;
    expect(res.data.id).toBe(id);
    expect(yt.commentsOn(videoId)).toEqual([expect.objectContaining({ id, videoId, text: 'Found safe \u2014 thanks', deleted: false })]);

    const gone = await api.comments.delete({ id });
    expect(gone.status).toBe(204);
    const remove = DISCOVERY.methods['comments.delete']!;
    expect(yt.requestsTo('deleteComment').at(-1)).toMatchObject({ method: remove.httpMethod, path: `/${remove.path}`, query: { id } });
    expect(Object.keys(remove.parameters)).toEqual(['id']);
    expect(yt.commentsOn(videoId)).toEqual([]);
  });

  it('answers the full CommentThread for part=snippet (Discovery types), id-only for part=id, and counts comments in statistics', async () => {
    const { h, videoId, comment } = await withVideo();
    const full = await comment(thread(videoId, 'Hello'), 'part=snippet&part=replies');
    const body = (await full.json()) as Record<string, unknown>;
    expectSchema(body, { $ref: 'CommentThread' });
    expect(body).toMatchObject({
      kind: 'youtube#commentThread', replies: { comments: [] },
      snippet: { videoId, channelId: yt.channelId, topLevelComment: { kind: 'youtube#comment', snippet: { textOriginal: 'Hello', textDisplay: 'Hello', videoId, authorChannelId: { value: yt.channelId } } } },
    });
    const idOnly = (await (await comment(thread(videoId, 'Hi'), 'part=id')).json()) as Record<string, unknown>;
    expect(Object.keys(idOnly).sort()).toEqual(['etag', 'id', 'kind']);
    const stats = (await (await fetch(`${yt.url}/youtube/v3/videos?part=statistics&id=${videoId}`, { headers: h })).json()) as { items: Array<{ statistics: { commentCount: string } }> };
    expect(stats.items[0]!.statistics.commentCount).toBe('2');
  });

  it('refuses what YouTube refuses, with its reasons', async () => {
    const { videoId, comment, reason } = await withVideo();
    const cases: Array<[Promise<Response>, number, string]> = [
      [comment(thread(videoId, 'x'), ''), 400, 'required'],
      [comment(thread(videoId, 'x'), 'part=snippet,statistics'), 400, 'unknownPart'],
      [comment('{not json', 'part=snippet'), 400, 'parseError'],
      [comment({ topLevelComment: {} }), 400, 'invalidCommentThreadMetadata'],
      [comment(thread(undefined, 'x')), 400, 'channelOrVideoIdMissing'],
      [comment(thread(videoId, '  ')), 400, 'commentTextRequired'],
      [comment({ snippet: { videoId } }), 400, 'commentTextRequired'],
      [comment(thread(videoId, 42)), 400, 'invalidCommentThreadMetadata'],
      [comment(thread(videoId, 'x'.repeat(10_001))), 400, 'commentTextTooLong'],
      [comment(thread('AAAAAAAAAAA', 'x')), 404, 'videoNotFound'],
      [comment({ snippet: { ...thread(videoId, 'x').snippet, channelId: 'UCnotthechannel' } }), 400, 'invalidCommentThreadMetadata'],
    ];
    for (const [p, status, why] of cases) {
      const res = await p;
      expect([res.status, await reason(res)]).toEqual([status, why]);
    }
    yt.disableComments(videoId);
    const off = await comment(thread(videoId, 'x'));
    expect([off.status, await reason(off)]).toEqual([403, 'commentsDisabled']);
    expect(yt.comments).toHaveLength(0);
  });

  it('deletes: 204, then 404 commentNotFound; a comment whose video is deleted is gone too; id is required', async () => {
    const { h, videoId, comment, del, reason } = await withVideo();
    const a = ((await (await comment(thread(videoId, 'a'))).json()) as { id: string }).id;
    const b = ((await (await comment(thread(videoId, 'b'))).json()) as { id: string }).id;
    expect((await del(a)).status).toBe(204);
    const again = await del(a);
    expect([again.status, await reason(again)]).toEqual([404, 'commentNotFound']);
    expect((await fetch(`${yt.url}/youtube/v3/videos?id=${videoId}`, { method: 'DELETE', headers: h })).status).toBe(204);
    expect(yt.commentsOn(videoId)).toEqual([]);
    const orphan = await del(b);
    expect([orphan.status, await reason(orphan)]).toEqual([404, 'commentNotFound']);
    const noId = await fetch(`${yt.url}/youtube/v3/comments`, { method: 'DELETE', headers: h });
    expect([noId.status, await reason(noId)]).toEqual([400, 'required']);
  });

  it('needs youtube.force-ssl on the token for the comment routes (403 insufficientPermissions), not for the rest', async () => {
    const { h, videoId, comment, del, reason, grantedScope } = await withVideo(FAKE_YOUTUBE_SCOPES.filter((x) => x !== YOUTUBE_FORCE_SSL_SCOPE));
    expect(grantedScope.split(' ')).not.toContain(YOUTUBE_FORCE_SSL_SCOPE);
    const res = await comment(thread(videoId, 'x'));
    expect([res.status, await reason(res)]).toEqual([403, 'insufficientPermissions']);
    const d = await del('UgzAAAAAAAAAAAAAAAAAAAA4AaABAg');
    expect([d.status, await reason(d)]).toEqual([403, 'insufficientPermissions']);
    expect((await fetch(`${yt.url}/youtube/v3/videos?part=statistics&id=${videoId}`, { headers: h })).status).toBe(200);
  });

  it('scripts the comment routes: failNext with commit creates the comment, hangNext with commit too', async () => {
    const { videoId, comment } = await withVideo();
    yt.failNext('comment', { status: 500, commit: true });
    expect((await comment(thread(videoId, 'committed'))).status).toBe(500);
    const arrived = yt.hangNext('comment', { commit: true });
    void comment(thread(videoId, 'held')).catch(() => undefined);
    await arrived;
    expect(yt.commentsOn(videoId).map((c) => c.text)).toEqual(['committed', 'held']);
    expect(yt.requestsTo('comment').map((r) => r.status)).toEqual([500, 0]);
  });
});
