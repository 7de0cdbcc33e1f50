/**
 * Self-test of the Facebook Graph fake, driven by raw fetch (what the adapter sends, and what it
 * never sends): token checks, Meta's error shape, photos/feed/published_posts/multi-id read,
 * post_impressions refused, scripting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeFacebook, type FakeFacebook } from './facebook.js';

const PAGE = '104000000000077';
const TOKEN = 'EAAfake-self-test-token';
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);

let fb: FakeFacebook;
beforeEach(async () => {
  fb = await startFakeFacebook({ pageId: PAGE, pageToken: TOKEN });
});
afterEach(async () => {
  await fb.close();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(method: string, path: string, opts: { query?: Record<string, string>; form?: Record<string, string>; file?: Buffer; token?: string | null } = {}) {
  const url = new URL(`${fb.url}/${path}`);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  const token = opts.token === undefined ? TOKEN : opts.token;
  let body: FormData | URLSearchParams | undefined;
  if (opts.file) {
    body = new FormData();
    for (const [k, v] of Object.entries(opts.form ?? {})) body.append(k, v);
    if (token) body.append('access_token', token);
    body.append('source', new Blob([opts.file], { type: 'image/jpeg' }), 'a.jpg');
  } else if (method === 'POST') {
    body = new URLSearchParams(opts.form ?? {});
    if (token) body.append('access_token', token);
  } else if (token) url.searchParams.set('access_token', token);
  const res = await fetch(url, { method, ...(body ? { body } : {}) });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Json };
}

function expectGraphError(json: Json, code: number): void {
  expect(json.error).toMatchObject({ message: expect.any(String), type: expect.any(String), code, fbtrace_id: expect.any(String) });
}

describe('fake Facebook Graph API', () => {
  it('checks the token: none → 104, wrong → 190; Bearer works; the token is never recorded', async () => {
    expectGraphError((await call('POST', `${PAGE}/feed`, { form: { message: 'hi' }, token: null })).json, 104);
    const wrong = await call('POST', `${PAGE}/feed`, { form: { message: 'hi' }, token: 'nope' });
    expect(wrong.status).toBe(400);
    expectGraphError(wrong.json, 190);
    const res = await fetch(`${fb.url}/${PAGE}/feed`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: new URLSearchParams({ message: 'bearer' }) });
    expect(res.status).toBe(200);
    expect(JSON.stringify(fb.requests)).not.toContain(TOKEN);
    expect(fb.livePosts()).toHaveLength(1);
  });

  it('photos: published → {id, post_id}; unpublished → {id}; not an image → 324', async () => {
    const one = await call('POST', `${PAGE}/photos`, { form: { message: 'caption' }, file: JPEG });
    expect(one.json).toEqual({ id: expect.stringMatching(/^\d+$/), post_id: expect.stringMatching(new RegExp(`^${PAGE}_\\d+$`)) });
    expect(fb.post(one.json.post_id)!.message).toBe('caption');
    const hidden = await call('POST', `${PAGE}/photos`, { form: { published: 'false' }, file: JPEG });
    expect(Object.keys(hidden.json)).toEqual(['id']);
    expect(fb.photo(hidden.json.id)!.bytes.equals(JPEG)).toBe(true);
    expectGraphError((await call('POST', `${PAGE}/photos`, { file: Buffer.from('<html>') })).json, 324);
  });

  it('feed with attached_media; bad media_fbid → 100; the same message again → 506', async () => {
    const p1 = (await call('POST', `${PAGE}/photos`, { form: { published: 'false' }, file: JPEG })).json.id as string;
    const p2 = (await call('POST', `${PAGE}/photos`, { form: { published: 'false' }, file: JPEG })).json.id as string;
    const post = await call('POST', `${PAGE}/feed`, { form: { message: 'two', 'attached_media[1]': JSON.stringify({ media_fbid: p2 }), 'attached_media[0]': JSON.stringify({ media_fbid: p1 }) } });
    expect(fb.post(post.json.id)!.photoIds).toEqual([p1, p2]);
    expectGraphError((await call('POST', `${PAGE}/feed`, { form: { message: 'x', 'attached_media[0]': '{"media_fbid":"1"}' } })).json, 100);
    expectGraphError((await call('POST', `${PAGE}/feed`, { form: { message: 'two' } })).json, 506);
  });

  it('published_posts: newest first, since, limit, paging.next', async () => {
    const t = Date.now();
    for (let i = 0; i < 5; i++) fb.seedPost({ message: `m${i}`, createdAt: t - i * 10_000 });
    const page = await call('GET', `${PAGE}/published_posts`, { query: { fields: 'id,message,created_time,permalink_url', limit: '2', since: String(Math.floor((t - 25_000) / 1000)) } });
    expect(page.json.data.map((p: Json) => p.message)).toEqual(['m0', 'm1']);
    expect(page.json.data[0].created_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
    const next = await fetch(page.json.paging.next as string);
    const rest = (await next.json()) as Json;
    expect(rest.data.map((p: Json) => p.message)).toEqual(['m2']);
    expect(rest.paging).toBeUndefined();
    expectGraphError((await call('GET', `${PAGE}/published_posts`, { query: { fields: 'nope' } })).json, 100);
  });

  it('multi-id read: post_media_view values; post_impressions → 100; gone ids → 803 (404); > 50 ids → 100', async () => {
    const a = fb.seedPost({ message: 'a' });
    const b = fb.seedPost({ message: 'b' });
    fb.setViews(b.id, 9);
    const ok = await call('GET', '', { query: { ids: `${a.id},${b.id}`, fields: 'insights.metric(post_media_view){values}' } });
    expect(ok.json[b.id].insights.data[0]).toMatchObject({ name: 'post_media_view', values: [{ value: 9 }], id: `${b.id}/insights/post_media_view/lifetime` });
    const old = await call('GET', '', { query: { ids: a.id, fields: 'insights.metric(post_impressions)' } });
    expect(old.status).toBe(400);
    expectGraphError(old.json, 100);
    expect(fb.metricsRequested).toEqual(['post_media_view', 'post_impressions']);
    const gone = await call('GET', '', { query: { ids: `${a.id},${PAGE}_1`, fields: 'id' } });
    expect(gone.status).toBe(404);
    expect(gone.json.error).toMatchObject({ code: 803, message: expect.stringContaining(`${PAGE}_1`) });
    const many = Array.from({ length: 51 }, (_, i) => `${PAGE}_${i}`).join(',');
    expectGraphError((await call('GET', '', { query: { ids: many, fields: 'id' } })).json, 100);
  });

  it('DELETE: {success:true}, then 100/33', async () => {
    const a = fb.seedPost({ message: 'a' });
    expect((await call('DELETE', a.id)).json).toEqual({ success: true });
    const again = await call('DELETE', a.id);
    expect(again.json.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect(fb.deleted).toEqual([a.id]);
  });

  it('comments: POST /{post}/comments → {id}; unknown param, blank → 100; gone post → 100/33; DELETE; a deleted post takes its comments', async () => {
    const a = fb.seedPost({ message: 'a' });
    const made = await call('POST', `${a.id}/comments`, { form: { message: 'Found safe.\nThank you.' } });
    expect(made.status).toBe(200);
    expect(made.json).toEqual({ id: expect.stringMatching(new RegExp(`^${a.id.split('_')[1]}_\\d+$`)) });
    expect(fb.commentsOn(a.id)).toMatchObject([{ id: made.json.id, parentId: a.id, message: 'Found safe.\nThank you.', fromPageId: PAGE, deleted: false }]);
    expect(fb.post(a.id)!.comments).toBe(1);
    expect(fb.requestsTo('comments')[0]!.fields).toEqual({ message: 'Found safe.\nThank you.' });
    expectGraphError((await call('POST', `${a.id}/comments`, { form: { text: 'wrong field' } })).json, 100);
    expectGraphError((await call('POST', `${a.id}/comments`, { form: { message: '  ' } })).json, 100);
    expectGraphError((await call('POST', `${a.id}/comments`, { form: { message: 'x' }, token: 'nope' })).json, 190);
    expect((await call('POST', `${PAGE}_1/comments`, { form: { message: 'x' } })).json.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect(fb.commentsOn(a.id)).toHaveLength(1);

    expect((await call('DELETE', made.json.id)).json).toEqual({ success: true });
    expect((await call('DELETE', made.json.id)).json.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect(fb.post(a.id)!.comments).toBe(0);
    const second = (await call('POST', `${a.id}/comments`, { form: { message: 'again' } })).json.id as string;
    await call('DELETE', a.id);
    expect(fb.commentsOn(a.id)).toEqual([]);
    expect((await call('DELETE', second)).json.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect((await call('POST', `${a.id}/comments`, { form: { message: 'x' } })).json.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect(fb.deleted).toEqual([made.json.id, a.id]);

    // Scripts apply to the comments route too.
    const b = fb.seedPost({ message: 'b' });
    fb.failNext('comments', { status: 500, commit: true });
    expect((await call('POST', `${b.id}/comments`, { form: { message: 'taken' } })).status).toBe(500);
    expect(fb.commentsOn(b.id).map((c) => c.message)).toEqual(['taken']);
  });

  it('scripts: rateLimitNext with the usage header, failNext with commit, hangNext', async () => {
    fb.rateLimitNext('feed', { minutes: 3, code: 32 });
    const limited = await call('POST', `${PAGE}/feed`, { form: { message: 'a' } });
    expectGraphError(limited.json, 32);
    const usage = JSON.parse(limited.headers.get('x-business-use-case-usage')!) as Json;
    expect(usage[PAGE][0]).toMatchObject({ type: 'pages', estimated_time_to_regain_access: 3 });
    fb.failNext('feed', { status: 500, commit: true });
    const failed = await call('POST', `${PAGE}/feed`, { form: { message: 'b' } });
    expect(failed.status).toBe(500);
    expect(fb.livePosts().map((p) => p.message)).toEqual(['b']);
    const arrived = fb.hangNext('feed', { commit: true });
    const pending = call('POST', `${PAGE}/feed`, { form: { message: 'c' } }).catch(() => 'closed');
    await arrived;
    expect(fb.livePosts().map((p) => p.message)).toEqual(['b', 'c']);
    await fb.close();
    expect(await pending).toBe('closed');
  });
});
