/**
 * Self-test of the Slack fake: drives it with the real @slack/web-api WebClient (and a real Bolt
 * App for the inbound side), and checks its shapes against the copied samples / spec subset in
 * test/fixtures/slack/.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, LogLevel, WebClient, WebClientEvent, type WebAPIPlatformError } from '@slack/web-api';
import { App, LogLevel as BoltLogLevel, verifySlackRequest } from '@slack/bolt';
import { startFakeSlack, type FakeSlack, parseMultipart } from './slack.js';
import { postSigned, signSlackRequest } from './slack-signing.js';

const TOKEN = 'xoxb-1111-2222-fake';
const SECRET = 'signing-secret-for-tests';
const TS_RE = /^\d{10}\.\d{6}$/;

type Json = Record<string, unknown>;
function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../fixtures/slack/${name}`, import.meta.url), 'utf8')) as Json;
}
const SPEC = fixture('web-api-schemas.subset.json') as {
  paths: Record<string, { success: { required?: string[] } }>;
  definitions: Record<string, { required?: string[]; items?: Array<{ required?: string[] }> }>;
};
function requiredOf(method: string): string[] {
  return SPEC.paths[method]?.success.required ?? [];
}
function defRequired(name: string): string[] {
  const d = SPEC.definitions[name];
  return d?.required ?? d?.items?.[0]?.required ?? [];
}
/** What the SDK adds to every result; not part of Slack's answer. */
function wire(result: object): Json {
  const { response_metadata: _ignored, ...rest } = result as Json;
  return rest;
}
function platformError(e: unknown): WebAPIPlatformError {
  expect((e as { code?: unknown }).code).toBe(ErrorCode.PlatformError);
  return e as WebAPIPlatformError;
}

let fake: FakeSlack;
let client: WebClient;

beforeEach(async () => {
  fake = await startFakeSlack({ botToken: TOKEN });
  client = new WebClient(TOKEN, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
});
afterEach(async () => {
  await fake.close();
});

describe('Web API', () => {
  it('auth.test answers like Slack', async () => {
    const res = wire(await client.auth.test());
    for (const k of requiredOf('auth.test')) expect(res).toHaveProperty(k);
    expect(res).toMatchObject({ ok: true, team_id: 'T0001', user_id: 'UBOT', bot_id: 'B0BOT' });
    expect(fake.apiUrl).toBe(`${fake.origin}/api/`);
    expect(fake.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('chat.postMessage / thread / chat.update round-trip, blocks parsed from the form body', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*Draft*' } }];
    const root = wire(await client.chat.postMessage({ channel: 'C1', text: 'Draft', blocks, unfurl_links: false }));
    for (const k of requiredOf('chat.postMessage')) expect(root).toHaveProperty(k);
    expect(root.ts).toMatch(TS_RE);
    const message = root.message as Json;
    for (const k of defRequired('objs_message')) expect(message).toHaveProperty(k);
    expect(message).toMatchObject({ type: 'message', text: 'Draft', user: 'UBOT', bot_id: 'B0BOT', ts: root.ts });
    expect((message.blocks as Json[])[0]).toMatchObject({ ...blocks[0], block_id: expect.any(String) });
    for (const k of defRequired('objs_bot_profile')) expect(message.bot_profile).toHaveProperty(k);

    const call = fake.callsTo('chat.postMessage')[0];
    expect(call?.contentType).toBe('application/x-www-form-urlencoded');
    expect(call?.params).toMatchObject({ channel: 'C1', text: 'Draft', blocks, unfurl_links: 'false' });
    expect(call?.params).not.toHaveProperty('token');

    const reply = await client.chat.postMessage({ channel: 'C1', text: 'reply', thread_ts: root.ts as string });
    expect(reply.message?.thread_ts).toBe(root.ts);
    expect((reply.ts ?? '') > (root.ts as string)).toBe(true);
    expect(fake.thread('C1', root.ts as string).map((m) => m.text)).toEqual(['Draft', 'reply']);
    expect(fake.messages('C1')).toHaveLength(2);

    const upd = wire(await client.chat.update({ channel: 'C1', ts: root.ts as string, text: 'Approved' }));
    for (const k of requiredOf('chat.update')) expect(upd).toHaveProperty(k);
    expect(upd).toMatchObject({ ok: true, channel: 'C1', ts: root.ts, text: 'Approved' });
    const stored = fake.message('C1', root.ts as string);
    expect(stored?.text).toBe('Approved');
    expect(stored?.blocks).toHaveLength(1); // omitted blocks are kept, as the docs say
    expect(stored?.edits).toMatchObject([{ previousText: 'Draft', text: 'Approved' }]);

    const err = await client.chat.update({ channel: 'C1', ts: '1111111111.000001', text: 'x' }).catch((e: unknown) => e);
    expect(platformError(err).data.error).toBe('message_not_found');

    const del = wire(await client.chat.delete({ channel: 'C1', ts: reply.ts as string }));
    expect(del).toEqual({ ok: true, channel: 'C1', ts: reply.ts });
    expect(fake.messages('C1')).toHaveLength(1);
  });

  it('answers errors as HTTP 200 {ok:false}: no_text, channel_not_found, invalid_blocks_format, unknown_method', async () => {
    await expect(client.chat.postMessage({ channel: 'C1', text: '' })).rejects.toMatchObject({ data: { error: 'no_text' } });
    fake.failChannel('C404');
    await expect(client.chat.postMessage({ channel: 'C404', text: 'x' })).rejects.toMatchObject({ data: { error: 'channel_not_found' } });
    fake.failChannel('C9', 'not_in_channel');
    await expect(client.reactions.add({ channel: 'C9', timestamp: '1.2', name: 'x' })).rejects.toMatchObject({ data: { error: 'not_in_channel' } });
    await expect(client.apiCall('chat.frobnicate', {})).rejects.toMatchObject({ data: { error: 'unknown_method' } });
    const raw = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'channel=C1&blocks=%5Bnot-json',
    });
    expect(raw.status).toBe(200);
    expect(await raw.json()).toEqual({ ok: false, error: 'invalid_blocks_format' });
  });

  it('accepts application/json bodies', async () => {
    const res = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ channel: 'C2', text: 'hi', unfurl_links: false, blocks: [{ type: 'divider' }] }),
    });
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ ok: true, channel: 'C2' });
    expect(fake.callsTo('chat.postMessage')[0]?.params).toEqual({ channel: 'C2', text: 'hi', unfurl_links: false, blocks: [{ type: 'divider' }] });
  });

  it('rejects a wrong token with invalid_auth (SDK platform error) and a missing one with not_authed', async () => {
    const bad = new WebClient('xoxb-wrong', { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
    const err = await bad.chat.postMessage({ channel: 'C1', text: 'x' }).catch((e: unknown) => e);
    expect(platformError(err).data).toMatchObject({ ok: false, error: 'invalid_auth' });
    const res = await fetch(`${fake.apiUrl}auth.test`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: false, error: 'not_authed' });
    expect(fake.calls.map((c) => c.error)).toEqual(['invalid_auth', 'not_authed']);
    expect(fake.messages('C1')).toEqual([]);
  });

  it('reactions.add / reactions.get / reactions.remove follow the spec', async () => {
    const { ts } = await client.chat.postMessage({ channel: 'C1', text: 'Draft' });
    const before = wire(await client.reactions.get({ channel: 'C1', timestamp: ts as string, full: true }));
    expect(before).toMatchObject({ ok: true, type: 'message', channel: 'C1' });
    expect(before.message).not.toHaveProperty('reactions');

    expect(wire(await client.reactions.add({ channel: 'C1', timestamp: ts as string, name: 'eyes' }))).toEqual({ ok: true });
    await expect(client.reactions.add({ channel: 'C1', timestamp: ts as string, name: 'eyes' })).rejects.toMatchObject({ data: { error: 'already_reacted' } });
    await expect(client.reactions.add({ channel: 'C1', timestamp: '1700000000.999999', name: 'eyes' })).rejects.toMatchObject({ data: { error: 'message_not_found' } });

    fake.addMessage({ channel: 'C1', user: 'U1', text: 'ignored' });
    const got = wire(await client.reactions.get({ channel: 'C1', timestamp: ts as string, full: true }));
    for (const k of ['ok', 'type', 'channel', 'message']) expect(got).toHaveProperty(k);
    const message = got.message as Json;
    for (const k of defRequired('objs_message')) expect(message).toHaveProperty(k);
    expect(message).toMatchObject({ type: 'message', text: 'Draft', ts, user: 'UBOT', reactions: [{ name: 'eyes', count: 1, users: ['UBOT'] }] });
    for (const k of defRequired('objs_reaction')) expect((message.reactions as Json[])[0]).toHaveProperty(k);

    await client.reactions.remove({ channel: 'C1', timestamp: ts as string, name: 'eyes' });
    await expect(client.reactions.remove({ channel: 'C1', timestamp: ts as string, name: 'eyes' })).rejects.toMatchObject({ data: { error: 'no_reaction' } });
    expect(fake.message('C1', ts as string)?.reactions).toEqual([]);
  });

  it('chat.postEphemeral, users.info, usergroups.users.list (+ missing_scope switch)', async () => {
    const eph = wire(await client.chat.postEphemeral({ channel: 'C1', user: 'U1', text: 'only you', thread_ts: '1700000000.000100' }));
    expect(Object.keys(eph).sort()).toEqual([...requiredOf('chat.postEphemeral')].sort());
    expect(fake.ephemerals).toMatchObject([{ channel: 'C1', user: 'U1', text: 'only you', thread_ts: '1700000000.000100', message_ts: eph.message_ts }]);

    fake.addUser('U1', 'ada', { realName: 'Ada Lovelace' });
    const info = wire(await client.users.info({ user: 'U1' }));
    const user = info.user as Json;
    for (const k of defRequired('objs_user')) expect(user).toHaveProperty(k);
    for (const k of defRequired('objs_user_profile')) expect(user.profile).toHaveProperty(k);
    expect(user).toMatchObject({ id: 'U1', name: 'ada', real_name: 'Ada Lovelace', profile: { display_name: 'ada', real_name: 'Ada Lovelace' } });
    await expect(client.users.info({ user: 'U404' })).rejects.toMatchObject({ data: { error: 'user_not_found' } });

    fake.setUserGroup('S1', ['U1', 'U2']);
    expect(wire(await client.usergroups.users.list({ usergroup: 'S1' }))).toEqual({ ok: true, users: ['U1', 'U2'] });
    await expect(client.usergroups.users.list({ usergroup: 'S2' })).rejects.toMatchObject({ data: { error: 'no_such_subteam' } });
    fake.setMissingScope('usergroups.users.list');
    const err = await client.usergroups.users.list({ usergroup: 'S1' }).catch((e: unknown) => e);
    expect(platformError(err).data).toMatchObject({ error: 'missing_scope', needed: 'usergroups:read', provided: expect.stringContaining('chat:write') });
    fake.setMissingScope('usergroups.users.list', false);
    await expect(client.usergroups.users.list({ usergroup: 'S1' })).resolves.toMatchObject({ ok: true });
  });

  it('a scripted 429 with Retry-After is retried by the SDK', async () => {
    const retrying = new WebClient(TOKEN, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 1 }, logLevel: LogLevel.ERROR });
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const limited: number[] = [];
    retrying.on(WebClientEvent.RATE_LIMITED, (sec: number) => limited.push(sec));
    const res = await retrying.chat.postMessage({ channel: 'C1', text: 'after the limit' });
    expect(res.ok).toBe(true);
    expect(limited).toEqual([1]);
    expect(fake.callsTo('chat.postMessage').map((c) => [c.status, c.error])).toEqual([[429, 'ratelimited'], [200, undefined]]);
    expect(fake.messages('C1')).toHaveLength(1);

    // Scripted {ok:false} errors, several times.
    fake.failNext('reactions.add', { error: 'internal_error', times: 2 });
    const ts = res.ts as string;
    await expect(client.reactions.add({ channel: 'C1', timestamp: ts, name: 'x' })).rejects.toMatchObject({ data: { error: 'internal_error' } });
    await expect(client.reactions.add({ channel: 'C1', timestamp: ts, name: 'x' })).rejects.toMatchObject({ data: { error: 'internal_error' } });
    await expect(client.reactions.add({ channel: 'C1', timestamp: ts, name: 'x' })).resolves.toMatchObject({ ok: true });

    // With rejectRateLimitedCalls the SDK surfaces the 429 instead of waiting.
    const impatient = new WebClient(TOKEN, { slackApiUrl: fake.apiUrl, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
    fake.failNext('auth.test', { retryAfter: 30 });
    await expect(impatient.auth.test()).rejects.toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 30 });
  }, 15_000);

  it('setLatency delays every answer', async () => {
    fake.setLatency(150);
    const t0 = performance.now();
    await client.auth.test();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });
});

describe('files', () => {
  const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

  it('filesUploadV2 works end to end (getUploadURLExternal → POST bytes → completeUploadExternal)', async () => {
    const root = await client.chat.postMessage({ channel: 'C1', text: 'Draft' });
    const res = await client.filesUploadV2({
      channel_id: 'C1', thread_ts: root.ts as string, file: PNG, filename: 'poster.png', title: 'Poster', initial_comment: 'Here it is',
    });
    // The SDK returns one files.completeUploadExternal result per completion job.
    const completion = (res.files as unknown as Array<{ files: Json[] }>)[0];
    const file = completion?.files[0] as Json;
    expect(file).toMatchObject({ title: 'Poster', name: 'poster.png', mimetype: 'image/png', size: PNG.length, user: 'UBOT' });

    const sample = fixture('files.getUploadURLExternal.json');
    const getUrl = fake.callsTo('files.getUploadURLExternal')[0];
    expect(getUrl?.params).toMatchObject({ filename: 'poster.png', length: String(PNG.length) });
    expect(Object.keys(sample)).toEqual(expect.arrayContaining(['upload_url', 'file_id']));
    expect(fake.callsTo('files.completeUploadExternal')[0]?.params).toMatchObject({
      files: [{ id: file.id, title: 'Poster' }], channel_id: 'C1', thread_ts: root.ts, initial_comment: 'Here it is',
    });
    const completeSample = (fixture('files.completeUploadExternal.json').files as Json[])[0] as Json;
    for (const k of ['id', 'name', 'title', 'mimetype', 'filetype', 'size', 'user', 'url_private', 'url_private_download', 'permalink', 'file_access', 'shares', 'channels']) {
      expect(completeSample).toHaveProperty(k);
      expect(file).toHaveProperty(k);
    }

    expect(fake.uploads).toHaveLength(1);
    const up = fake.uploads[0];
    expect(up?.bytes?.equals(PNG)).toBe(true);
    expect(up?.uploadContentType).toMatch(/^multipart\/form-data/);
    expect(up).toMatchObject({ fileId: file.id, title: 'Poster', channel: 'C1', thread_ts: root.ts, completed: true, declaredLength: PNG.length });

    const thread = fake.thread('C1', root.ts as string);
    expect(thread[1]).toMatchObject({ text: 'Here it is', upload: true, files: [{ id: file.id }] });
    const info = wire(await client.files.info({ file: file.id as string }));
    expect(info).toMatchObject({ ok: true, file: { id: file.id }, comments: [] });

    const dl = await fetch(file.url_private_download as string, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(Buffer.from(await dl.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('upload URL accepts raw bytes and answers OK - <n>', async () => {
    const { upload_url, file_id } = await client.files.getUploadURLExternal({ filename: 'a.txt', length: 5 });
    expect(upload_url?.startsWith(`${fake.origin}/upload/`)).toBe(true);
    const res = await fetch(upload_url as string, { method: 'POST', body: 'hello' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('OK - 5');
    await expect(client.files.completeUploadExternal({ files: [{ id: file_id as string }] })).resolves.toMatchObject({ ok: true });
    expect(fake.file(file_id as string)?.bytes.toString()).toBe('hello');
    await expect(client.files.completeUploadExternal({ files: [{ id: 'F000' }] })).rejects.toMatchObject({ data: { error: 'file_not_found' } });
  });

  it('private file URLs need the bot token; without it Slack redirects to its login page', async () => {
    const f = fake.addFile({ name: 'poster.png', bytes: PNG, user: 'U1', size: 999_999 });
    expect(f).toMatchObject({ size: 999_999, mimetype: 'image/png', filetype: 'png', file_access: 'visible', user: 'U1' });
    expect(f.url_private_download).toBe(`${fake.origin}/files-pri/T0001-${f.id}/download/poster.png`);

    const anon = await fetch(f.url_private_download, { redirect: 'manual' });
    expect(anon.status).toBe(302);
    expect(anon.headers.get('location')).toBe(`${fake.origin}/?redirect=login`);
    const followed = await fetch(f.url_private, { headers: { authorization: 'Bearer xoxb-wrong' } });
    expect(followed.status).toBe(200); // the trap: an HTML login page, not the image
    expect(followed.headers.get('content-type')).toMatch(/^text\/html/);

    const ok = await fetch(f.url_private_download, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await ok.arrayBuffer()).equals(PNG)).toBe(true);
    expect(fake.downloads.map((d) => [d.authorized, d.status])).toEqual([[false, 302], [false, 302], [true, 200]]);
  });

  it('addFile options: redirectTo, slow', async () => {
    const r = fake.addFile({ name: 'a.jpg', bytes: 'x', redirectTo: 'http://127.0.0.1:1/elsewhere.jpg' });
    const res = await fetch(r.url_private, { headers: { authorization: `Bearer ${TOKEN}` }, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://127.0.0.1:1/elsewhere.jpg');

    const slow = fake.addFile({ name: 'big.png', bytes: Buffer.alloc(4096), slow: { chunkBytes: 512, intervalMs: 100 } });
    const err = await fetch(slow.url_private, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(250) })
      .then((x) => x.arrayBuffer())
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');

    const late = fake.addFile({ name: 'late.png', bytes: PNG, delayMs: 400 });
    const t0 = performance.now();
    const res2 = await fetch(late.url_private, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(390);
    expect(Buffer.from(await res2.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('parses multipart bodies', () => {
    const body = Buffer.from('--XX\r\nContent-Disposition: form-data; name="body"; filename="Untitled"\r\nContent-Type: application/octet-stream\r\n\r\nabc\r\n--XX--\r\n');
    expect(parseMultipart(body, 'multipart/form-data; boundary=XX')).toEqual([
      { name: 'body', filename: 'Untitled', contentType: 'application/octet-stream', data: Buffer.from('abc') },
    ]);
  });
});

describe('response URLs', () => {
  it('records posts, 5 uses at most', async () => {
    const url = fake.responseUrl();
    expect(url).toMatch(new RegExp(`^${fake.origin}/response/[A-Za-z0-9]+$`));
    for (let i = 0; i < 5; i++) {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `n${i}`, response_type: 'ephemeral' }) });
      expect(r.status).toBe(200);
    }
    const sixth = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"x"}' });
    expect(sixth.status).toBe(404);
    expect(fake.responses.map((r) => r.body.text)).toEqual(['n0', 'n1', 'n2', 'n3', 'n4']);
  });
});

describe('signing', () => {
  it("matches Slack's documented example", () => {
    // The worked example of https://docs.slack.dev/authentication/verifying-requests-from-slack
    const body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const h = signSlackRequest('8f742231b10e8888abcd99yyyzzz85a5', body, 1531420618);
    expect(h).toEqual({
      'x-slack-request-timestamp': '1531420618',
      'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    });
  });

  it('is accepted by Bolt verifySlackRequest and equals an independent HMAC', () => {
    const body = JSON.stringify({ type: 'event_callback', event: { type: 'reaction_added' } });
    const now = Math.floor(Date.now() / 1000);
    const h = signSlackRequest(SECRET, body, now);
    const independent = `v0=${createHmac('sha256', SECRET).update(`v0:${now}:${body}`).digest('hex')}`;
    expect(h['x-slack-signature']).toBe(independent);
    const headers = { 'x-slack-signature': h['x-slack-signature'], 'x-slack-request-timestamp': Number(h['x-slack-request-timestamp']) };
    expect(() => verifySlackRequest({ signingSecret: SECRET, body, headers })).not.toThrow();
    expect(() => verifySlackRequest({ signingSecret: SECRET, body: `${body} `, headers })).toThrow(/signature mismatch/);
    expect(() => verifySlackRequest({ signingSecret: 'other', body, headers })).toThrow(/signature mismatch/);
  });
});

describe('inbound payload shapes follow the samples', () => {
  let received: Array<{ body: string; headers: Record<string, string | string[] | undefined> }>;
  let sink: Server;
  let sinkUrl: string;
  beforeEach(async () => {
    received = [];
    const { createServer } = await import('node:http');
    sink = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
        res.writeHead(200);
        res.end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/slack/events`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => sink.close(() => r()));
  });

  it('slash command: every field of SlashCommandPayload.json (but the enterprise ones), signed, form-encoded', async () => {
    fake.addUser('U1', 'ada');
    const res = await fake.slashCommand(sinkUrl, SECRET, { text: 'draft Road closed', userId: 'U1', channelId: 'C1' });
    expect(res.status).toBe(200);
    const got = received[0];
    expect(got?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const fields = Object.fromEntries(new URLSearchParams(got?.body ?? ''));
    const sampleKeys = Object.keys(fixture('SlashCommandPayload.json')).filter((k) => !k.startsWith('enterprise_'));
    expect(Object.keys(fields).sort()).toEqual(sampleKeys.sort());
    expect(fields).toMatchObject({ command: '/appeal', text: 'draft Road closed', user_id: 'U1', user_name: 'ada', channel_id: 'C1', team_id: 'T0001', response_url: res.responseUrl, is_enterprise_install: 'false' });
    expect(got?.body).toContain('text=draft%20Road%20closed');
    const ts = Number(got?.headers['x-slack-request-timestamp']);
    expect(() => verifySlackRequest({ signingSecret: SECRET, body: got?.body ?? '', headers: { 'x-slack-signature': String(got?.headers['x-slack-signature']), 'x-slack-request-timestamp': ts } })).not.toThrow();
  });

  it('reaction_added envelope matches ReactionAddedPayload.json and the wrapper schema; resend is byte-identical', async () => {
    const { ts } = await client.chat.postMessage({ channel: 'C1', text: 'Draft' });
    const res = await fake.react(sinkUrl, SECRET, { user: 'U1', channel: 'C1', ts: ts as string, reaction: 'white_check_mark' });
    const envelope = JSON.parse(received[0]?.body ?? '{}') as Json;
    const sample = fixture('ReactionAddedPayload.json');
    const optional = ['enterprise_id']; // absent outside Enterprise Grid
    expect(Object.keys(envelope).sort()).toEqual(Object.keys(sample).filter((k) => !optional.includes(k)).sort());
    expect(Object.keys(envelope.event as Json).sort()).toEqual(Object.keys(sample.event as Json).sort());
    const schema = fixture('slack_common_event_wrapper_schema.json') as { required: string[] };
    // authed_users (required by the 2020 schema) is deprecated and absent from today's payloads.
    for (const k of schema.required.filter((k) => k !== 'authed_users')) expect(envelope).toHaveProperty(k);
    expect(envelope).toMatchObject({
      type: 'event_callback', team_id: 'T0001', event_id: res.eventId,
      authorizations: [{ team_id: 'T0001', user_id: 'UBOT', is_bot: true }],
      event: { type: 'reaction_added', user: 'U1', reaction: 'white_check_mark', item_user: 'UBOT', item: { type: 'message', channel: 'C1', ts } },
    });
    expect((envelope.event as Json).event_ts).toMatch(TS_RE);
    // State changed before the event was sent.
    const got = await client.reactions.get({ channel: 'C1', timestamp: ts as string });
    expect(got.message?.reactions).toEqual([{ name: 'white_check_mark', users: ['U1'], count: 1 }]);

    await fake.resendEvent(sinkUrl, SECRET, res.eventId, 2, 'http_timeout');
    expect(received[1]?.body).toBe(received[0]?.body);
    expect(received[1]?.headers).toMatchObject({ 'x-slack-retry-num': '2', 'x-slack-retry-reason': 'http_timeout' });
    expect(received[0]?.headers).not.toHaveProperty('x-slack-retry-num');

    await fake.unreact(sinkUrl, SECRET, { user: 'U1', channel: 'C1', ts: ts as string, reaction: 'white_check_mark' });
    expect(JSON.parse(received[2]?.body ?? '{}')).toMatchObject({ event: { type: 'reaction_removed' } });
    expect(fake.message('C1', ts as string)?.reactions).toEqual([]);

    await fake.react(sinkUrl, SECRET, { user: 'U9', channel: 'C1', ts: ts as string, reaction: 'x', updateState: false, itemUser: null });
    expect(JSON.parse(received[3]?.body ?? '{}').event).not.toHaveProperty('item_user');
    expect(fake.message('C1', ts as string)?.reactions).toEqual([]);
    await expect(fake.react(sinkUrl, SECRET, { user: 'U9', channel: 'C1', ts: '1.000001', reaction: 'x' })).rejects.toThrow(/no message/);
  });

  it('file_share message event matches message_file_share.json / MessageFileSharePayload.json', async () => {
    const { ts: rootTs } = await client.chat.postMessage({ channel: 'C1', text: 'Draft' });
    const res = await fake.shareFiles(sinkUrl, SECRET, {
      user: 'U1', channel: 'C1', threadTs: rootTs as string, text: 'photo', files: [{ name: 'scene.jpg', bytes: Buffer.from('ffd8ffe0', 'hex') }],
    });
    const envelope = JSON.parse(received[0]?.body ?? '{}') as Json;
    const event = envelope.event as Json;
    const real = fixture('message_file_share.json').event as Json;
    const merged = fixture('MessageFileSharePayload.json').event as Json;
    for (const k of Object.keys(real)) expect(event).toHaveProperty(k);
    // Nothing invented: every key is in the real log or the merged java-slack-sdk sample.
    for (const k of Object.keys(event)) expect(k in merged || k in real).toBe(true);
    expect(event).toMatchObject({
      type: 'message', subtype: 'file_share', upload: true, user: 'U1', channel: 'C1', channel_type: 'channel',
      thread_ts: rootTs, parent_user_id: 'UBOT', ts: res.ts, text: 'photo',
    });
    const file = (event.files as Json[])[0] as Json;
    const realFile = (real.files as Json[])[0] as Json;
    const snippetOnly = ['edit_link', 'preview', 'preview_highlight', 'lines', 'lines_more', 'preview_is_truncated'];
    for (const k of Object.keys(realFile).filter((k) => !snippetOnly.includes(k))) expect(file).toHaveProperty(k);
    expect(file).toMatchObject({ name: 'scene.jpg', mimetype: 'image/jpeg', filetype: 'jpg', user: 'U1', size: 4, file_access: 'visible' });
    expect(fake.thread('C1', rootTs as string).map((m) => m.subtype ?? 'plain')).toEqual(['plain', 'file_share']);
    const info = await client.files.info({ file: file.id as string });
    expect(info.file?.shares?.public?.C1?.[0]).toMatchObject({ ts: res.ts, thread_ts: rootTs });
  });

  it('url_verification and waitFor', async () => {
    const r = await fake.urlVerification(sinkUrl, SECRET, 'abc123');
    expect(r.status).toBe(200);
    expect(JSON.parse(received[0]?.body ?? '{}')).toEqual({ token: 'fake-verification-token', challenge: 'abc123', type: 'url_verification' });

    setTimeout(() => void client.chat.postMessage({ channel: 'C7', text: 'later' }), 50);
    const msg = await fake.waitFor((f) => f.messages('C7')[0]);
    expect(msg.text).toBe('later');
    const err = await fake.waitFor(() => false, { timeoutMs: 100, description: 'nothing' }).then(() => new Error('resolved'), (e: unknown) => e as Error);
    expect(err.message).toMatch(/timed out after 100 ms waiting for nothing/);
    expect(err.message).toContain('chat.postMessage → 200 ok');
  });
});

describe('with a real Bolt app', () => {
  it('Bolt accepts the signed command, events and retries, and its respond() reaches the response URL', async () => {
    const seen: Array<{ type: string; retryNum?: number; subtype?: string }> = [];
    const app = new App({
      token: TOKEN,
      signingSecret: SECRET,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logLevel: BoltLogLevel.ERROR,
    });
    app.command('/appeal', async ({ command, ack, respond }) => {
      await ack({ response_type: 'ephemeral', text: `Drafting: ${command.text}` });
      await respond({ response_type: 'ephemeral', text: 'Draft posted' });
    });
    app.event('reaction_added', async ({ event, context }) => {
      seen.push({ type: event.type, ...(context.retryNum !== undefined ? { retryNum: context.retryNum } : {}) });
    });
    app.event('message', async ({ event }) => {
      seen.push({ type: event.type, ...('subtype' in event && event.subtype ? { subtype: event.subtype } : {}) });
    });
    const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
      const cmd = await fake.slashCommand(url, SECRET, { text: 'Road closed', userId: 'U1', channelId: 'C1' });
      expect(cmd.status).toBe(200);
      expect(cmd.json).toEqual({ response_type: 'ephemeral', text: 'Drafting: Road closed' });
      await fake.waitFor((f) => f.responses.length === 1);
      expect(fake.responses[0]?.body).toEqual({ response_type: 'ephemeral', text: 'Draft posted' });

      const { ts } = await client.chat.postMessage({ channel: 'C1', text: 'Draft' });
      const ev = await fake.react(url, SECRET, { user: 'U1', channel: 'C1', ts: ts as string, reaction: '+1' });
      expect(ev.status).toBe(200);
      await fake.resendEvent(url, SECRET, ev.eventId, 1);
      await fake.shareFiles(url, SECRET, { user: 'U1', channel: 'C1', threadTs: ts as string, files: [{ name: 'a.png', bytes: 'x' }] });
      await fake.waitFor(() => seen.length === 3);
      expect(seen).toEqual([{ type: 'reaction_added' }, { type: 'reaction_added', retryNum: 1 }, { type: 'message', subtype: 'file_share' }]);

      const v = await fake.urlVerification(url, SECRET, 'chal');
      expect(v.json).toEqual({ challenge: 'chal' });

      const forged = await postSigned(url, 'wrong-secret', JSON.stringify({ type: 'event_callback', event: { type: 'reaction_added' } }), 'application/json');
      expect(forged.status).toBe(401);
      expect(fake.callsTo('auth.test').length).toBeGreaterThanOrEqual(1); // Bolt's own token check hit the fake
    } finally {
      await app.stop();
    }
  });
});
