/**
 * Self-test of the X fake: driven by the real twitter-api-v2 client (what the adapter sends) and
 * by raw, hand-signed HTTP (what the SDK never sends: replays, stale timestamps, garbage), and
 * checked against the subset of the X OpenAPI spec in test/fixtures/x/.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TwitterApi, type ApiResponseError } from 'twitter-api-v2';
import { DUPLICATE_DETAIL, FAKE_X_CREDENTIALS, REPLY_TO_DELETED_DETAIL, oauth1Header, startFakeX, type FakeX, type FakeXOptions } from './x.js';
import type { OAuth1Credentials } from './x-oauth.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SPEC = JSON.parse(readFileSync(new URL('../fixtures/x/openapi-subset.json', import.meta.url), 'utf8')) as {
  schemas: Record<string, { required?: string[]; properties?: string[] }>;
};
function expectShape(value: unknown, schema: string): void {
  const s = SPEC.schemas[schema]!;
  for (const k of s.required ?? []) expect(value, `${schema} requires ${k}`).toHaveProperty(k);
  if (s.properties) for (const k of Object.keys(value as object)) expect(s.properties, `${schema} has no ${k}`).toContain(k);
}

let fake: FakeX;
let agent: Agent;

async function start(opts: FakeXOptions = {}): Promise<void> {
  await fake?.close();
  fake = await startFakeX(opts);
}

beforeEach(async () => {
  agent = new Agent({ keepAlive: true });
  fake = await startFakeX();
});
afterEach(async () => {
  await fake.close();
  agent.destroy();
});

function sdk(creds: OAuth1Credentials = FAKE_X_CREDENTIALS) {
  const client = new TwitterApi({ ...creds }, { httpAgent: agent });
  const prefix = fake.url;
  return {
    get: (path: string, query: Record<string, string> = {}) => client.get<Json>(path, query, { prefix }),
    post: (path: string, body: Json = {}) => client.post<Json>(path, body, { prefix }),
    postFull: (path: string, body: Json = {}) => client.post<Json>(path, body, { prefix, fullResponse: true }),
    getFull: (path: string, query: Record<string, string> = {}) => client.get<Json>(path, query, { prefix, fullResponse: true }),
    del: (path: string) => client.delete<Json>(path, undefined, { prefix }),
    form: (path: string, body: Json) => client.post<Json>(path, body, { prefix, forceBodyMode: 'form-data' }),
    v2: client.v2,
  };
}

/** The SDK's error for a failed call, with `data` loosely typed (it is X's JSON). */
async function sdkError(p: Promise<unknown>): Promise<Omit<ApiResponseError, 'data'> & { data: Json }> {
  try {
    await p;
  } catch (e) {
    return e as Omit<ApiResponseError, 'data'> & { data: Json };
  }
  throw new Error('expected the call to fail');
}

/** A raw request, OAuth-signed with `creds` unless `authorization` is given. */
async function raw(method: string, path: string, init: { body?: string | Buffer | FormData; contentType?: string; authorization?: string | null; form?: Record<string, string>; creds?: OAuth1Credentials; nonce?: string; timestamp?: number } = {}) {
  const url = `${fake.url}${path}`;
  const headers: Record<string, string> = {};
  if (init.authorization !== null) {
    headers.authorization = init.authorization ?? oauth1Header(init.creds ?? FAKE_X_CREDENTIALS, method, url, {
      ...(init.form ? { form: init.form } : {}), ...(init.nonce ? { nonce: init.nonce } : {}), ...(init.timestamp ? { timestamp: init.timestamp } : {}),
    });
  }
  if (init.contentType) headers['content-type'] = init.contentType;
  const res = await fetch(url, { method, headers, ...(init.body !== undefined ? { body: init.body as RequestInit['body'] } : {}) });
  const text = await res.text();
  let json: Json | undefined;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const UNAUTHORIZED = { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' };

describe('OAuth 1.0a', () => {
  it('accepts the SDK’s signatures and answers users/me like X', async () => {
    const res = await sdk().getFull('users/me');
    expect(res.data).toEqual({ data: fake.user });
    expectShape(res.data.data, 'User');
    expect(res.rateLimit).toMatchObject({ limit: 75, remaining: 74 });
    expect(res.rateLimit!.reset).toBeGreaterThan(Date.now() / 1000);
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/2/users/me', route: 'me', status: 200 });
  });

  it.each([
    ['consumer secret', { ...FAKE_X_CREDENTIALS, appSecret: 'wrong' }],
    ['access secret', { ...FAKE_X_CREDENTIALS, accessSecret: 'wrong' }],
    ['consumer key', { ...FAKE_X_CREDENTIALS, appKey: 'wrong' }],
    ['access token', { ...FAKE_X_CREDENTIALS, accessToken: 'wrong' }],
  ])('refuses a wrong %s with X’s 401 problem', async (_what, creds) => {
    const err = await sdkError(sdk(creds).get('users/me'));
    expect(err.code).toBe(401);
    expect(err.data).toEqual(UNAUTHORIZED);
    expect(err.headers['content-type']).toBe('application/problem+json');
    expect(fake.requests.at(-1)!.authError).toBeDefined();
  });

  it('refuses a missing header, a replayed nonce and timestamps beyond ±5 minutes', async () => {
    expect((await raw('GET', 'users/me', { authorization: null })).json).toEqual(UNAUTHORIZED);
    expect((await raw('GET', 'users/me', { authorization: 'Bearer abc' })).status).toBe(401);

    expect((await raw('GET', 'users/me', { nonce: 'nonce-once' })).status).toBe(200);
    expect((await raw('GET', 'users/me', { nonce: 'nonce-once' })).status).toBe(401);
    expect(fake.requests.at(-1)!.authError).toMatch(/nonce/);

    const now = Math.floor(Date.now() / 1000);
    expect((await raw('GET', 'users/me', { timestamp: now - 240 })).status).toBe(200);
    expect((await raw('GET', 'users/me', { timestamp: now - 360 })).status).toBe(401);
    expect((await raw('GET', 'users/me', { timestamp: now + 360 })).status).toBe(401);
    expect(fake.requests.at(-1)!.authError).toMatch(/timestamp/);
  });

  it('signs query params, and form params only for form bodies', async () => {
    const signed = oauth1Header(FAKE_X_CREDENTIALS, 'GET', `${fake.url}tweets?ids=1`);
    expect((await raw('GET', 'tweets?ids=2', { authorization: signed })).status).toBe(401); // tampered query
    expect((await raw('GET', 'tweets?ids=1%2C2', {})).status).toBe(200);

    // A form body is part of the signature: signed with it passes the check (then X wants JSON).
    const form = { text: 'hello world*' };
    const body = 'text=hello%20world%2A';
    const ok = await raw('POST', 'tweets', { body, contentType: 'application/x-www-form-urlencoded', form });
    expect(ok.status).toBe(400);
    const unsigned = await raw('POST', 'tweets', { body, contentType: 'application/x-www-form-urlencoded' });
    expect(unsigned.status).toBe(401);
    // A JSON body is not.
    expect((await raw('POST', 'tweets', { body: JSON.stringify({ text: 'json body' }), contentType: 'application/json' })).status).toBe(201);
  });
});

describe('media upload', () => {
  it('takes the SDK’s own chunked uploadMedia (initialize, multipart append, finalize)', async () => {
    const bytes = Buffer.from(Array.from({ length: 2500 }, (_, i) => i % 251));
    const id = await uploadWithSdk(bytes);
    const m = fake.mediaById(id)!;
    expect(m).toMatchObject({ mediaType: 'image/png', category: 'tweet_image', totalBytes: 2500, finalized: true, via: 'chunked' });
    expect(m.segments.size).toBe(3);
    expect(m.bytes.equals(bytes)).toBe(true);
    const append = fake.requestsTo('mediaAppend')[0]!;
    expect(append.contentType).toMatch(/^multipart\/form-data; boundary=/);
  });

  async function uploadWithSdk(bytes: Buffer): Promise<string> {
    // uploadMedia uses the client's own prefix; setPrefix is protected in 1.29's types (and
    // cloneWithPrefix throws), so call it past the types.
    const client = new TwitterApi({ ...FAKE_X_CREDENTIALS }, { httpAgent: agent }).v2;
    (client as unknown as { setPrefix(prefix: string): void }).setPrefix(fake.url);
    return client.uploadMedia(bytes, { media_type: 'image/png' }, 1000);
  }

  it('answers initialize, append and finalize with the spec’s shapes', async () => {
    const x = sdk();
    const init = await x.post('media/upload/initialize', { media_type: 'image/jpeg', total_bytes: 4, media_category: 'tweet_image' });
    expectShape(init.data, 'MediaUploadResponse.data');
    expect(init.data).toEqual({ id: expect.stringMatching(/^\d{1,19}$/), media_key: `3_${init.data.id}`, expires_after_secs: 86400 });
    const append = await x.form(`media/upload/${init.data.id}/append`, { segment_index: 0, media: Buffer.from([0xff, 0xd8, 0xff, 0xe0]) });
    expectShape(append.data, 'MediaUploadAppendResponse.data');
    const fin = await x.post(`media/upload/${init.data.id}/finalize`);
    expectShape(fin.data, 'MediaUploadResponse.data');
    expect(fin.data).toMatchObject({ id: init.data.id, size: 4 });
    expect(fin.data.processing_info).toBeUndefined();
  });

  it('refuses images over 5 MB, segments that don’t add up, and unknown media ids', async () => {
    const x = sdk();
    const big = await sdkError(x.post('media/upload/initialize', { media_type: 'image/png', total_bytes: 5 * 1024 * 1024 + 1, media_category: 'tweet_image' }));
    expect(big.code).toBe(400);
    expect(big.data.type).toBe('https://api.twitter.com/2/problems/invalid-request');
    const init = await x.post('media/upload/initialize', { media_type: 'image/png', total_bytes: 10, media_category: 'tweet_image' });
    await x.form(`media/upload/${init.data.id}/append`, { segment_index: 0, media: Buffer.alloc(4) });
    expect((await sdkError(x.post(`media/upload/${init.data.id}/finalize`))).code).toBe(400);
    expect((await sdkError(x.form('media/upload/123/append', { segment_index: 0, media: Buffer.alloc(1) }))).code).toBe(400);
    expect((await sdkError(x.post('media/upload/initialize', { media_type: 'application/pdf', total_bytes: 1 }))).code).toBe(400);
  });

  it('reports processing through STATUS when asked to, and refuses the media in a post until done', async () => {
    await start({ processingPolls: 2 });
    const x = sdk();
    const init = await x.post('media/upload/initialize', { media_type: 'image/png', total_bytes: 3, media_category: 'tweet_image' });
    await x.form(`media/upload/${init.data.id}/append`, { segment_index: 0, media: Buffer.from('abc') });
    const fin = await x.post(`media/upload/${init.data.id}/finalize`);
    expect(fin.data.processing_info).toMatchObject({ state: 'pending', check_after_secs: 1 });
    expect((await sdkError(x.post('tweets', { text: 'too soon', media: { media_ids: [init.data.id] } }))).data).toMatchObject({
      detail: 'One or more parameters to your request was invalid.', errors: [{ message: 'Your media IDs are invalid.' }],
    });
    const s1 = await x.get('media/upload', { command: 'STATUS', media_id: init.data.id });
    expect(s1.data.processing_info.state).toBe('in_progress');
    const s2 = await x.get('media/upload', { command: 'STATUS', media_id: init.data.id });
    expect(s2.data.processing_info).toEqual({ state: 'succeeded', progress_percent: 100 });
    expect(SPEC.schemas.ProcessingInfo!.properties).toEqual(expect.arrayContaining(Object.keys(s2.data.processing_info)));
    expect((await x.post('tweets', { text: 'now', media: { media_ids: [init.data.id] } })).data.id).toBeDefined();
  });

  it('takes a one-shot multipart upload and sniffs the type', async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(32, 7)]);
    const fd = new FormData();
    fd.append('media', new Blob([png]), 'x.png');
    fd.append('media_category', 'tweet_image');
    const res = await raw('POST', 'media/upload', { body: fd });
    expect(res.status).toBe(200);
    const m = fake.mediaById(res.json!.data.id)!;
    expect(m).toMatchObject({ mediaType: 'image/png', via: 'one-shot', finalized: true });
    expect(m.bytes.equals(png)).toBe(true);
  });
});

describe('posts', () => {
  it('creates a post (201) with media, like the spec says', async () => {
    const x = sdk();
    const init = await x.post('media/upload/initialize', { media_type: 'image/png', total_bytes: 2, media_category: 'tweet_image' });
    await x.form(`media/upload/${init.data.id}/append`, { segment_index: 0, media: Buffer.from('hi') });
    await x.post(`media/upload/${init.data.id}/finalize`);
    const res = await raw('POST', 'tweets', { body: JSON.stringify({ text: 'Appeal Ref 7K3Q', media: { media_ids: [init.data.id] } }), contentType: 'application/json' });
    expect(res.status).toBe(201);
    expectShape({ id: res.json!.data.id, text: res.json!.data.text }, 'TweetCreateResponse.data');
    // Like X, the text reads back with the media's t.co link appended.
    expect(res.json!.data).toEqual({ id: expect.stringMatching(/^\d{19}$/), text: expect.stringMatching(/^Appeal Ref 7K3Q https:\/\/t\.co\/[A-Za-z0-9]{10}$/), edit_history_tweet_ids: [res.json!.data.id] });
    expect(fake.posts).toEqual([expect.objectContaining({ id: res.json!.data.id, sentText: 'Appeal Ref 7K3Q', mediaIds: [init.data.id], deleted: false })]);
    expect(fake.createCalls).toBe(1);
  });

  it('rewrites links to t.co like X, keeping what was sent', async () => {
    const res = await sdk().post('tweets', { text: 'Details: https://police.example/appeals/7K3Q Ref 7K3Q' });
    expect(res.data.text).toMatch(/^Details: https:\/\/t\.co\/[A-Za-z0-9]{10} Ref 7K3Q$/);
    expect(fake.posts[0]!.sentText).toBe('Details: https://police.example/appeals/7K3Q Ref 7K3Q');
  });

  it('refuses duplicate text of a live post with X’s words, and allows it once deleted', async () => {
    const x = sdk();
    const first = await x.post('tweets', { text: 'Same words' });
    const dup = await sdkError(x.post('tweets', { text: 'Same words' }));
    expect(dup.code).toBe(403);
    expect(dup.data).toEqual({ title: 'Forbidden', type: 'about:blank', status: 403, detail: DUPLICATE_DETAIL });
    expect(dup.data.detail).toBe('You are not allowed to create a Tweet with duplicate content.');
    await x.del(`tweets/${first.data.id}`);
    expect((await x.post('tweets', { text: 'Same words' })).data.id).not.toBe(first.data.id);
  });

  it('refuses bad posts: unknown or too many media, nothing to post, too long, bad JSON', async () => {
    const x = sdk();
    expect((await sdkError(x.post('tweets', { text: 'a', media: { media_ids: ['123'] } }))).data.errors[0]).toEqual({
      parameters: { 'media.media_ids': ['123'] }, message: 'Your media IDs are invalid.',
    });
    expect((await sdkError(x.post('tweets', { text: 'a', media: { media_ids: ['1', '2', '3', '4', '5'] } }))).code).toBe(400);
    expect((await sdkError(x.post('tweets', { text: '  ' }))).code).toBe(400);
    expect((await sdkError(x.post('tweets', { text: 'x'.repeat(281) }))).code).toBe(403);
    const bad = await raw('POST', 'tweets', { body: '{"text": ', contentType: 'application/json' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expectShape(bad.json, 'InvalidRequestProblem');
    expect((await raw('POST', 'tweets', { body: '[1,2]', contentType: 'application/json' })).status).toBe(400);
    expect(fake.posts).toHaveLength(0);
  });

  it('looks up ≤100 ids with public_metrics; unknown and deleted ids come back in errors', async () => {
    const x = sdk();
    const a = (await x.post('tweets', { text: 'A' })).data.id as string;
    const b = (await x.post('tweets', { text: 'B' })).data.id as string;
    fake.setImpressions(a, 1234);
    await x.del(`tweets/${b}`);
    const res = await x.get('tweets', { ids: [a, b, '42'].join(','), 'tweet.fields': 'public_metrics' });
    expect(res.data).toEqual([{
      id: a, text: 'A', edit_history_tweet_ids: [a],
      public_metrics: { retweet_count: 0, reply_count: 0, like_count: 0, quote_count: 0, bookmark_count: 0, impression_count: 1234 },
    }]);
    expectShape(res.data[0].public_metrics, 'Tweet.public_metrics');
    for (const k of Object.keys(res.data[0])) expect(SPEC.schemas.Tweet!.properties).toContain(k);
    expect(res.errors.map((e: Json) => e.resource_id)).toEqual([b, '42']);
    for (const e of res.errors) {
      expectShape(e, 'ResourceNotFoundProblem');
      expect(e).toMatchObject({ type: 'https://api.twitter.com/2/problems/resource-not-found', resource_type: 'tweet', parameter: 'ids' });
    }
    expect(fake.lookupCalls).toBe(1);
    expect(fake.postsRead).toBe(1);
    // post.fields (v2.167's name) is accepted; no fields → no metrics; unknown fields → 400.
    expect((await x.get('tweets', { ids: a, 'post.fields': 'public_metrics' })).data[0].public_metrics.impression_count).toBe(1234);
    expect((await x.get('tweets', { ids: a })).data[0].public_metrics).toBeUndefined();
    expect((await sdkError(x.get('tweets', { ids: a, 'tweet.fields': 'views' }))).code).toBe(400);
  });

  it('refuses more than 100 ids, and ids that are not ids', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => String(1_000 + i)).join(',');
    const err = await sdkError(sdk().get('tweets', { ids, 'tweet.fields': 'public_metrics' }));
    expect(err.code).toBe(400);
    expect(err.data.errors[0].message).toMatch(/not between 1 and 100/);
    expect((await sdkError(sdk().get('tweets', { ids: 'abc' }))).code).toBe(400);
    expect(fake.postsRead).toBe(0);
  });

  it('deletes: {deleted:true}, then 404 (or deleted:false when so configured)', async () => {
    const x = sdk();
    const id = (await x.post('tweets', { text: 'to delete' })).data.id as string;
    const res = await x.del(`tweets/${id}`);
    expect(res).toEqual({ data: { deleted: true } });
    expectShape(res.data, 'TweetDeleteResponse.data');
    expect(fake.post(id)!.deleted).toBe(true);
    const again = await sdkError(x.del(`tweets/${id}`));
    expect(again.code).toBe(404);
    expect(again.data.type).toBe('https://api.twitter.com/2/problems/resource-not-found');

    await start({ deleteMissing: 'deleted-false' });
    expect(await sdk().del('tweets/42')).toEqual({ data: { deleted: false } });
  });
});

describe('replies', () => {
  it('takes a reply (the body v2.reply sends): a post with inReplyTo, 201 like any post; counted on the parent', async () => {
    const x = sdk();
    const parent = await x.post('tweets', { text: 'Appeal Ref 7K3Q' });
    const reply = await x.post('tweets', { text: 'Found safe Ref 7K3Q', reply: { in_reply_to_tweet_id: parent.data.id } });
    expectShape({ id: reply.data.id, text: reply.data.text }, 'TweetCreateResponse.data');
    expect(fake.requestsTo('reply').map((r) => [r.status, r.body])).toEqual([[201, { text: 'Found safe Ref 7K3Q', reply: { in_reply_to_tweet_id: parent.data.id } }]]);
    expect(fake.post(reply.data.id)).toMatchObject({ inReplyTo: parent.data.id, sentText: 'Found safe Ref 7K3Q' });
    expect(fake.replies(parent.data.id).map((p) => p.id)).toEqual([reply.data.id]);
    expect(fake.post(parent.data.id)!.metrics.reply_count).toBe(1);
    expect([fake.createCalls, fake.replyCalls]).toEqual([1, 1]);
    // Deleting the reply is the ordinary DELETE; the parent's count follows.
    expect(await x.del(`tweets/${reply.data.id}`)).toEqual({ data: { deleted: true } });
    expect(fake.replies(parent.data.id)).toEqual([]);
    expect(fake.post(parent.data.id)!.metrics.reply_count).toBe(0);
  }, 10_000);

  it('refuses what the spec refuses: no in_reply_to_tweet_id, a bad id, unknown properties; a deleted parent is X’s 403', async () => {
    const x = sdk();
    const parent = await x.post('tweets', { text: 'Appeal' });
    const missing = await sdkError(x.post('tweets', { text: 'a', reply: {} }));
    expect([missing.code, missing.data.errors[0].message]).toEqual([400, '$.reply.in_reply_to_tweet_id: is missing but it is required']);
    expect((await sdkError(x.post('tweets', { text: 'b', reply: { in_reply_to_tweet_id: 'abc' } }))).code).toBe(400);
    expect((await sdkError(x.post('tweets', { text: 'c', reply: { in_reply_to_tweet_id: parent.data.id, in_reply_to_user_id: '1' } }))).code).toBe(400);
    expect((await sdkError(x.post('tweets', { text: 'd', reply: 'nope' }))).code).toBe(400);
    expect((await sdkError(x.post('tweets', { text: 'e', in_reply_to_tweet_id: parent.data.id }))).code).toBe(400); // a top-level field that isn't X's
    expect(fake.requestsTo('reply')).toHaveLength(4);
    const unknown = await sdkError(x.post('tweets', { text: 'f', reply: { in_reply_to_tweet_id: '1234567890123456789' } }));
    expect([unknown.code, unknown.data.detail]).toEqual([403, REPLY_TO_DELETED_DETAIL]);
    await x.del(`tweets/${parent.data.id}`);
    expect((await sdkError(x.post('tweets', { text: 'g', reply: { in_reply_to_tweet_id: parent.data.id } }))).data.detail).toBe(REPLY_TO_DELETED_DETAIL);
    expect(fake.posts.filter((p) => p.inReplyTo !== undefined)).toEqual([]);
    // A reply is refused as a duplicate of live text like any post.
    const p2 = await x.post('tweets', { text: 'Appeal 2' });
    expect((await sdkError(x.post('tweets', { text: 'Appeal 2', reply: { in_reply_to_tweet_id: p2.data.id } }))).data.detail).toBe(DUPLICATE_DETAIL);
  });

  it('the timeline honours exclude=replies and shows referenced_tweets / in_reply_to_user_id / conversation_id when asked', async () => {
    const x = sdk();
    const parent = await x.post('tweets', { text: 'Appeal Ref 7K3Q' });
    const reply = await x.post('tweets', { text: 'Found safe Ref 7K3Q', reply: { in_reply_to_tweet_id: parent.data.id } });
    const path = `users/${fake.user.id}/tweets`;
    const all = await x.get(path, { 'tweet.fields': 'referenced_tweets,in_reply_to_user_id,conversation_id' });
    expect(all.data).toEqual([
      { id: reply.data.id, text: 'Found safe Ref 7K3Q', edit_history_tweet_ids: [reply.data.id], referenced_tweets: [{ type: 'replied_to', id: parent.data.id }], in_reply_to_user_id: fake.user.id, conversation_id: parent.data.id },
      { id: parent.data.id, text: 'Appeal Ref 7K3Q', edit_history_tweet_ids: [parent.data.id], conversation_id: parent.data.id },
    ]);
    for (const d of all.data as Json[]) expectShape(d, 'Tweet');
    expect((await x.get(path, { exclude: 'retweets,replies' })).data.map((t: Json) => t.id)).toEqual([parent.data.id]);
    expect((await x.get(path, { exclude: 'retweets' })).data).toHaveLength(2);
    expect((await sdkError(x.get(path, { exclude: 'quotes' }))).code).toBe(400);
    expect((await sdkError(x.get(path, { exclude: 'replies,replies' }))).code).toBe(400);
  });

  it('scripts the reply route apart from createPost: failNext, commit, hangNext', async () => {
    const x = sdk();
    const parent = await x.post('tweets', { text: 'Appeal' });
    fake.failNext('reply', { status: 503, commit: true });
    expect((await sdkError(x.post('tweets', { text: 'committed reply', reply: { in_reply_to_tweet_id: parent.data.id } }))).code).toBe(503);
    expect(fake.replies(parent.data.id).map((p) => p.sentText)).toEqual(['committed reply']);
    expect((await x.post('tweets', { text: 'a post is not a reply' })).data.id).toBeDefined();
    const arrived = fake.hangNext('reply', { commit: true });
    void x.post('tweets', { text: 'hung reply', reply: { in_reply_to_tweet_id: parent.data.id } }).catch(() => undefined);
    await arrived;
    expect(fake.replies(parent.data.id).map((p) => p.sentText)).toEqual(['committed reply', 'hung reply']);
    expect(fake.requestsTo('reply').map((r) => r.status)).toEqual([503, 0]);
  });
});

describe('user timeline', () => {
  it('lists the account’s live posts newest first, by start_time, paginated', async () => {
    const now = Date.now();
    fake.seedPost({ text: 'old', createdAt: now - 3_600_000 });
    for (let i = 0; i < 7; i++) fake.seedPost({ text: `post ${i}`, createdAt: now - 60_000 + i * 1000 });
    fake.seedPost({ text: 'gone', createdAt: now - 1000, deleted: true });
    const x = sdk();
    const start = new Date(now - 120_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const path = `users/${fake.user.id}/tweets`;
    const p1 = await x.get(path, { max_results: '5', start_time: start, 'tweet.fields': 'created_at' });
    expect(p1.data.map((t: Json) => t.text)).toEqual(['post 6', 'post 5', 'post 4', 'post 3', 'post 2']);
    expect(p1.data[0].created_at).toBe(new Date(now - 60_000 + 6000).toISOString());
    expectShape(p1.meta, 'Get2UsersIdTweetsResponse.meta');
    expect(p1.meta).toMatchObject({ result_count: 5, newest_id: p1.data[0].id, oldest_id: p1.data[4].id, next_token: expect.any(String) });
    const p2 = await x.get(path, { max_results: '5', start_time: start, pagination_token: p1.meta.next_token });
    expect(p2.data.map((t: Json) => t.text)).toEqual(['post 1', 'post 0']);
    expect(p2.meta.next_token).toBeUndefined();
    expect(p2.data[0].created_at).toBeUndefined();
    expect(fake.timelineCalls).toBe(2);
    expect(fake.timelinePostsRead).toBe(7);

    expect((await sdkError(x.get(path, { max_results: '4' }))).code).toBe(400);
    expect((await sdkError(x.get(path, { max_results: '101' }))).code).toBe(400);
    expect((await sdkError(x.get(path, { start_time: 'yesterday' }))).code).toBe(400);
    expect((await sdkError(x.get(path, { pagination_token: 'nonsense' }))).code).toBe(400);
    expect(await x.get(path, { start_time: new Date(now + 60_000).toISOString() })).toEqual({ meta: { result_count: 0 } });
  });
});

describe('scripting', () => {
  it('failNext answers the status `times` times, then normally; commit does the work first', async () => {
    const x = sdk();
    fake.failNext('me', { status: 503, times: 2 });
    expect((await sdkError(x.get('users/me'))).code).toBe(503);
    const second = await sdkError(x.get('users/me'));
    expect(second.data).toEqual({ title: 'Service Unavailable', detail: 'Service Unavailable', type: 'about:blank', status: 503 });
    expect((await x.get('users/me')).data.id).toBe(fake.user.id);

    fake.failNext('createPost', { status: 500, commit: true });
    expect((await sdkError(x.post('tweets', { text: 'committed' }))).code).toBe(500);
    expect(fake.livePosts().map((p) => p.text)).toEqual(['committed']);

    fake.failNext('lookup', { status: 502, body: '<html>bad gateway</html>', headers: { 'x-test': '1' } });
    const html = await raw('GET', 'tweets?ids=1');
    expect(html).toMatchObject({ status: 502, text: '<html>bad gateway</html>' });
    expect(html.headers.get('x-test')).toBe('1');
  });

  it('rateLimitNext answers 429 with x-rate-limit-reset = now + N and no Retry-After', async () => {
    fake.rateLimitNext('createPost', { resetInSeconds: 42 });
    const err = await sdkError(sdk().post('tweets', { text: 'limited' }));
    expect(err.code).toBe(429);
    expect(err.headers['retry-after']).toBeUndefined();
    expect(err.headers['x-rate-limit-remaining']).toBe('0');
    const reset = Number(err.headers['x-rate-limit-reset']);
    expect(Math.abs(reset - (Math.floor(Date.now() / 1000) + 42))).toBeLessThanOrEqual(1);
    expect(err.rateLimit).toMatchObject({ remaining: 0, reset });
    expect(fake.posts).toHaveLength(0);
    expect(fake.createCalls).toBe(1);
    expect((await sdk().post('tweets', { text: 'limited' })).data.text).toBe('limited');
  });

  it('hangNext never answers; with commit the post exists; close() ends the hung socket', async () => {
    const arrived = fake.hangNext('createPost', { commit: true });
    const pending = raw('POST', 'tweets', { body: JSON.stringify({ text: 'hung' }), contentType: 'application/json' }).then(
      () => 'answered', () => 'failed');
    await arrived;
    expect(fake.livePosts().map((p) => p.text)).toEqual(['hung']);
    expect(fake.requestsTo('createPost')[0]!.status).toBe(0);
    const raced = await Promise.race([pending, new Promise((r) => setTimeout(() => r('still waiting'), 200))]);
    expect(raced).toBe('still waiting');
    await fake.close();
    expect(await pending).toBe('failed');
  });

  it('delays answers, per route', async () => {
    await start({ delayMs: { me: 150 } });
    const t0 = Date.now();
    await sdk().get('users/me');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    const t1 = Date.now();
    await sdk().get('tweets', { ids: '1' });
    expect(Date.now() - t1).toBeLessThan(140);
  });
});

describe('garbage in', () => {
  it('never crashes: bad escapes, unknown paths, binary bodies, oversized bodies', async () => {
    expect((await raw('GET', 'tweets?ids=%zz', { authorization: null })).status).toBe(400);
    expect((await raw('GET', 'nope')).json).toEqual({ errors: [{ message: 'Sorry, that page does not exist', code: 34 }] });
    expect((await raw('GET', 'nope', { authorization: null })).status).toBe(401);
    expect((await raw('POST', 'tweets', { body: Buffer.from([0, 255, 1, 254]), contentType: 'application/json' })).status).toBe(400);
    expect((await raw('POST', 'media/upload/1/append', { body: 'not multipart', contentType: 'multipart/form-data' })).status).toBe(400);
    expect((await raw('POST', 'media/upload', { body: Buffer.alloc(13 * 1024 * 1024), contentType: 'application/octet-stream' })).status).toBe(413);
    expect((await raw('GET', 'users/me', { authorization: 'OAuth oauth_consumer_key="%E0%A4%A"' })).status).toBe(401);
    // Still serving.
    expect((await sdk().get('users/me')).data.username).toBe('loudhailer_test');
  });
});
