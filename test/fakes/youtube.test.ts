/**
 * The fake YouTube itself, spoken to with plain fetch: the token grant, the Bearer check, the
 * resumable protocol (308 + Range, status queries, a cut connection), lists and deletes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeYouTube, type FakeYouTube } from './youtube.js';

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
