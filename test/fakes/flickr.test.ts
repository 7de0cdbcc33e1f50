/**
 * The fake Flickr itself: OAuth 1.0a checked in the params for Flickr's own URLs, the JSON and
 * XML shapes, and the scripts. Raw requests are signed here by hand (the same HMAC-SHA1 the
 * SDK uses); one test goes through flickr-sdk with its stock FetchTransport-like flow.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createFlickr, type GET, type POST, type Transport } from 'flickr-sdk';
import { FLICKR_SIGNED_REST_URL, FLICKR_SIGNED_UPLOAD_URL, startFakeFlickr, type FakeFlickr } from './flickr.js';
import { hmacSha1Signature, signatureBaseString, type Param } from './x-oauth.js';
import { plainPng } from '../helpers/images.js';

const CREDS = { apiKey: 'k-fake', apiSecret: 's-fake', oauthToken: 't-fake', oauthSecret: 'ts-fake' };

function signed(method: string, url: string, params: Record<string, string>, secrets = CREDS): Record<string, string> {
  const all: Record<string, string> = {
    ...params, oauth_consumer_key: CREDS.apiKey, oauth_nonce: randomBytes(16).toString('hex'), oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(Math.floor(Date.now() / 1000)), oauth_token: CREDS.oauthToken, oauth_version: '1.0',
  };
  const base = signatureBaseString(method, url, Object.entries(all) as Param[]);
  return { ...all, oauth_signature: hmacSha1Signature(base, secrets.apiSecret, secrets.oauthSecret) };
}

async function restGet(fake: FakeFlickr, params: Record<string, string>, secrets = CREDS): Promise<Record<string, unknown>> {
  const q = new URLSearchParams(signed('GET', FLICKR_SIGNED_REST_URL, { ...params, format: 'json', nojsoncallback: '1' }, secrets));
  return (await fetch(`${fake.apiUrl}?${q}`)).json() as Promise<Record<string, unknown>>;
}

async function restPost(fake: FakeFlickr, params: Record<string, string>): Promise<Record<string, unknown>> {
  const form = new FormData();
  for (const [k, v] of Object.entries(signed('POST', FLICKR_SIGNED_REST_URL, { ...params, format: 'json', nojsoncallback: '1' }))) form.set(k, v);
  return (await fetch(fake.apiUrl, { method: 'POST', body: form })).json() as Promise<Record<string, unknown>>;
}

async function upload(fake: FakeFlickr, bytes: Buffer, params: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(signed('POST', FLICKR_SIGNED_UPLOAD_URL, params))) form.set(k, v);
  form.set('photo', new Blob([bytes], { type: 'image/png' }), 'a.png'); // not signed
  const res = await fetch(fake.uploadUrl, { method: 'POST', body: form });
  return { status: res.status, text: await res.text() };
}

describe('fake Flickr', () => {
  const fakes: FakeFlickr[] = [];
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
  });
  const start = async (opts = {}) => {
    const f = await startFakeFlickr({ ...CREDS, ...opts });
    fakes.push(f);
    return f;
  };

  it('answers flickr.test.login to a correctly signed request, and 96/98/100 otherwise', async () => {
    const f = await start();
    expect(await restGet(f, { method: 'flickr.test.login' })).toEqual({ user: { id: f.nsid, username: { _content: f.username }, path_alias: null }, stat: 'ok' });
    expect(await restGet(f, { method: 'flickr.test.login' }, { ...CREDS, oauthSecret: 'wrong' })).toEqual({ stat: 'fail', code: 96, message: 'Invalid signature' });
    expect(f.requests.at(-1)!.authError).toBe('signature mismatch');
    const q = new URLSearchParams({ ...signed('GET', FLICKR_SIGNED_REST_URL, { method: 'flickr.test.login', format: 'json', nojsoncallback: '1' }), oauth_token: 'other' });
    expect(await (await fetch(`${f.apiUrl}?${q}`)).json()).toMatchObject({ stat: 'fail', code: 98 });
    const k = new URLSearchParams({ ...signed('GET', FLICKR_SIGNED_REST_URL, { method: 'flickr.test.login', format: 'json', nojsoncallback: '1' }), oauth_consumer_key: 'nope' });
    expect(await (await fetch(`${f.apiUrl}?${k}`)).json()).toMatchObject({ stat: 'fail', code: 100 });
  });

  it('a signature made for the fake\'s own URL is refused: Flickr\'s URL is what gets signed', async () => {
    const f = await start();
    const q = new URLSearchParams(signed('GET', f.apiUrl, { method: 'flickr.test.login', format: 'json', nojsoncallback: '1' }));
    expect(await (await fetch(`${f.apiUrl}?${q}`)).json()).toMatchObject({ stat: 'fail', code: 96 });
  });

  it('uploads (photo part unsigned) answer XML; photos list with string views; errors are XML', async () => {
    const f = await start();
    const png = await plainPng(8, 8);
    const ok = await upload(f, png, { title: 'T', description: 'line one, Ref ABC', tags: 'police appeal refabc', is_public: '1' });
    const id = /<photoid secret="[0-9a-f]+" originalsecret="[0-9a-f]+">(\d+)<\/photoid>/.exec(ok.text)?.[1];
    expect(ok.text).toMatch(/^<\?xml[^>]*\?>\n<rsp stat="ok">/);
    expect(f.photo(id!)).toMatchObject({ title: 'T', description: 'line one, Ref ABC', tags: ['police', 'appeal', 'refabc'], isPublic: true });
    expect(f.photo(id!)!.bytes.equals(png)).toBe(true);
    f.setViews(id!, 17);
    const list = await restGet(f, { method: 'flickr.people.getPhotos', user_id: 'me', extras: 'views,description' }) as { photos: { photo: Array<Record<string, unknown>>; total: number } };
    expect(list.photos.total).toBe(1);
    expect(list.photos.photo[0]).toMatchObject({ id, views: '17', description: { _content: 'line one, Ref ABC' }, ispublic: 1 });
    expect((await upload(f, Buffer.from('not an image'))).text).toContain('<err code="5" msg="Filetype was not recognised" />');
  });

  it('photosets: create, addPhoto (3 when already in), getList, getPhotos with views, delete; photos.delete', async () => {
    const f = await start();
    const a = f.seedPhoto({ description: 'a', views: 2 });
    const b = f.seedPhoto({ description: 'b', views: 3 });
    const created = await restPost(f, { method: 'flickr.photosets.create', title: 'Album', description: 'd, Ref X', primary_photo_id: a.id }) as { photoset: { id: string } };
    const setId = created.photoset.id;
    expect(await restPost(f, { method: 'flickr.photosets.addPhoto', photoset_id: setId, photo_id: b.id })).toEqual({ stat: 'ok' });
    expect(await restPost(f, { method: 'flickr.photosets.addPhoto', photoset_id: setId, photo_id: b.id })).toMatchObject({ stat: 'fail', code: 3 });
    const sets = await restGet(f, { method: 'flickr.photosets.getList', user_id: f.nsid }) as { photosets: { photoset: Array<Record<string, unknown>> } };
    expect(sets.photosets.photoset[0]).toMatchObject({ id: setId, primary: a.id, description: { _content: 'd, Ref X' }, photos: 2 });
    const photos = await restGet(f, { method: 'flickr.photosets.getPhotos', photoset_id: setId, user_id: f.nsid, extras: 'views' }) as { photoset: { photo: Array<Record<string, unknown>>; total: string } };
    expect(photos.photoset.photo.map((p) => [p.id, p.views, p.isprimary])).toEqual([[a.id, '2', '1'], [b.id, '3', '0']]);
    expect(photos.photoset.total).toBe('2');
    expect(await restPost(f, { method: 'flickr.photos.delete', photo_id: a.id })).toEqual({ stat: 'ok' });
    expect(await restPost(f, { method: 'flickr.photos.delete', photo_id: a.id })).toEqual({ stat: 'fail', code: 1, message: 'Photo not found' });
    expect(await restPost(f, { method: 'flickr.photosets.delete', photoset_id: setId })).toEqual({ stat: 'ok' });
    expect(await restPost(f, { method: 'flickr.photosets.delete', photoset_id: setId })).toMatchObject({ stat: 'fail', code: 1 });
  });

  it('comments: addComment (write permission; 1 unknown photo, 8 blank) answers the comment with its permalink; deleteComment (2, then 1 when the photo is gone)', async () => {
    const f = await start();
    const a = f.seedPhoto({ description: 'a' });
    const added = await restPost(f, { method: 'flickr.photos.comments.addComment', photo_id: a.id, comment_text: 'Found safe \u2014 thank you.' }) as { comment: Record<string, unknown>; stat: string };
    const [c] = f.commentsOn(a.id);
    expect(added).toEqual({ stat: 'ok', comment: {
      id: c!.id, author: f.nsid, author_is_deleted: 0, authorname: f.username, datecreate: expect.stringMatching(/^\d+$/),
      permalink: expect.stringMatching(new RegExp(`^https://www\\.flickr\\.com/photos/${f.nsid}/${a.id}/#comment\\d+$`)), path_alias: null, realname: '', _content: 'Found safe \u2014 thank you.',
    } });
    expect(c!.id).toMatch(new RegExp(`^\\d+-${a.id}-\\d+$`));
    expect(await restPost(f, { method: 'flickr.photos.comments.addComment', photo_id: '1', comment_text: 'x' })).toEqual({ stat: 'fail', code: 1, message: 'Photo not found.' });
    expect(await restPost(f, { method: 'flickr.photos.comments.addComment', photo_id: a.id, comment_text: '  ' })).toEqual({ stat: 'fail', code: 8, message: 'Blank comment.' });
    f.commentAnswer = 'id-only';
    const bare = await restPost(f, { method: 'flickr.photos.comments.addComment', photo_id: a.id, comment_text: 'second' }) as { comment: { id: string } };
    expect(Object.keys(bare.comment)).toEqual(['id']);
    expect(f.commentsOn(a.id).map((x) => x.text)).toEqual(['Found safe \u2014 thank you.', 'second']);

    expect(await restPost(f, { method: 'flickr.photos.comments.deleteComment', comment_id: c!.id })).toEqual({ stat: 'ok' });
    expect(await restPost(f, { method: 'flickr.photos.comments.deleteComment', comment_id: c!.id })).toEqual({ stat: 'fail', code: 2, message: 'Comment not found.' });
    await restPost(f, { method: 'flickr.photos.delete', photo_id: a.id });
    expect(f.commentsOn(a.id)).toEqual([]);
    expect(await restPost(f, { method: 'flickr.photos.comments.deleteComment', comment_id: bare.comment.id })).toEqual({ stat: 'fail', code: 1, message: 'Photo not found.' });

    // Both need write permission (not delete), as the reflection says (requiredperms 2).
    const w = await start({ perms: 'write' });
    const b = w.seedPhoto({});
    const made = await restPost(w, { method: 'flickr.photos.comments.addComment', photo_id: b.id, comment_text: 'x' }) as { comment: { id: string } };
    expect(await restPost(w, { method: 'flickr.photos.comments.deleteComment', comment_id: made.comment.id })).toEqual({ stat: 'ok' });
    const r = await start({ perms: 'read' });
    expect(await restPost(r, { method: 'flickr.photos.comments.addComment', photo_id: r.seedPhoto({}).id, comment_text: 'x' })).toMatchObject({ stat: 'fail', code: 99 });
  });

  it('a read-only token gets 99 on writes', async () => {
    const f = await start({ perms: 'read' });
    expect(await restPost(f, { method: 'flickr.photos.delete', photo_id: '1' })).toMatchObject({ stat: 'fail', code: 99 });
  });

  it('scripts: failNext (HTTP or Flickr code, commit), rateLimitNext (429 + Retry-After), hangNext', async () => {
    const f = await start();
    f.failNext('flickr.test.login', { status: 503 });
    const q = () => new URLSearchParams(signed('GET', FLICKR_SIGNED_REST_URL, { method: 'flickr.test.login', format: 'json', nojsoncallback: '1' }));
    expect((await fetch(`${f.apiUrl}?${q()}`)).status).toBe(503);
    f.rateLimitNext('flickr.test.login', 30);
    const limited = await fetch(`${f.apiUrl}?${q()}`);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '30']);
    f.failNext('upload', { status: 500, commit: true });
    expect((await upload(f, await plainPng(4, 4))).status).toBe(500);
    expect(f.livePhotos()).toHaveLength(1);
    const arrived = f.hangNext('upload', { commit: true });
    const hung = upload(f, await plainPng(4, 4)).catch(() => 'closed');
    await arrived;
    expect(f.livePhotos()).toHaveLength(2);
    expect(f.requestsTo('upload').at(-1)!.status).toBe(0);
    await f.close();
    expect(await hung).toBe('closed');
  });

  it('works with flickr-sdk 7 through a transport that only redirects the URL', async () => {
    const f = await start();
    const redirect = (url: string) => (url === FLICKR_SIGNED_UPLOAD_URL ? f.uploadUrl : f.apiUrl);
    const transport: Transport = {
      get: async (url: string, params: GET) => fetch(`${redirect(url)}?${new URLSearchParams([...params.entries()])}`),
      post: async (url: string, params: POST) => fetch(redirect(url), { method: 'POST', body: params.getFormData() }),
    };
    const { flickr, upload: up } = createFlickr({ consumerKey: CREDS.apiKey, consumerSecret: CREDS.apiSecret, oauthToken: CREDS.oauthToken, oauthTokenSecret: CREDS.oauthSecret }, transport);
    expect((await flickr('flickr.test.login', {})).user.id).toBe(f.nsid);
    const { id } = await up(new Blob([await plainPng(4, 4)], { type: 'image/png' }), { title: 'one line', is_public: '1' });
    expect(f.photo(id)?.title).toBe('one line');
    // fetch's FormData sends "\n" in a value as "\r\n", which no longer matches the signature.
    await expect(up(new Blob([await plainPng(4, 4)], { type: 'image/png' }), { description: 'two\nlines' })).rejects.toThrow('Invalid signature');
  });
});
