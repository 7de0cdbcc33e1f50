import { LogLevel, WebClient, type WebAPIPlatformError } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';
import { postSigned } from '../fakes/slack-signing.js';
import { BOT_TOKEN, blocksText, SIGNING_SECRET, startApp, type RunningApp } from './harness.js';

/**
 * The real app (dist/main.js) in Socket Mode: SLACK_APP_TOKEN set, no SLACK_SIGNING_SECRET.
 * Slack's side is the fake's Socket Mode (test/fakes/slack-socket.ts): apps.connections.open
 * with the app token, a WebSocket with hello and pings, envelopes acked by envelope_id.
 */
const APP_TOKEN = 'xapp-1-A0APP-1234567890-e2e0app0token0fedcba9876543210';
const CHANNEL = 'CINCIDENT1';

describe('e2e: Socket Mode', () => {
  let slack: FakeSlack;
  let app: RunningApp;

  beforeAll(async () => {
    // Ping every second, so the test sees the SDK answer the server's pings too.
    slack = await startFakeSlack({ botToken: BOT_TOKEN, appToken: APP_TOKEN, socketPingIntervalMs: 1000 });
    slack.addChannel(CHANNEL, 'op-lighthouse');
    app = await startApp({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_APP_TOKEN: APP_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      APPROVERS: 'UAPP1,UAPP2,UAPP3',
    });
  });
  afterAll(async () => {
    await app?.kill();
    await slack?.close();
  });

  async function draft(text: string, user = 'UAUTHOR') {
    const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
    const cmd = await slack.socketSlashCommand({ text, userId: user, channelId: CHANNEL });
    const card = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId), { description: 'the card' });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'seeded reactions' });
    const id = /Appeal #([2-9A-HJKMNP-Z]{4,8})/.exec(card.text)![1]!;
    return { id, ts: card.ts, cmd };
  }

  it('connects with the app token: apps.connections.open, then the WebSocket and its hello', async () => {
    // Two: the app checks the token once itself (the SDK would retry some refusals for
    // ever), then the SDK opens its connection.
    const opens = slack.callsTo('apps.connections.open');
    expect(opens).toHaveLength(2);
    for (const open of opens) expect(open).toMatchObject({ ok: true, tokenType: 'app', httpMethod: 'POST' });
    // The app token is used for nothing else; everything else goes with the bot token.
    expect(slack.calls.filter((c) => c.method !== 'apps.connections.open').every((c) => c.tokenType === 'bot')).toBe(true);
    expect(slack.callsTo('auth.test')).toHaveLength(1);

    const conn = await slack.waitForSocketConnection();
    expect(conn.id).toBe(1);
    expect(conn.hello).toMatchObject({ type: 'hello', num_connections: 1, connection_info: { app_id: slack.appId } });
    expect(slack.socketMode.tickets).toHaveLength(2);
    expect(slack.socketMode.tickets[1]!.ticket).toBe(conn.ticket);
    expect(slack.socketMode.refusedUpgrades).toEqual([]);

    const listening = app.logs.find((l) => l.msg === 'listening');
    expect(listening).toMatchObject({ mode: 'socket' });
  });

  it('/appeal help over the socket: the ack carries the help text', async () => {
    const help = await slack.socketSlashCommand({ text: 'help', userId: 'UAPP1', channelId: CHANNEL });
    expect(help.type).toBe('slash_commands');
    expect(help.ack?.envelope_id).toBe(help.envelopeId);
    expect(help.ack?.payload).toMatchObject({ response_type: 'ephemeral' });
    expect(String(help.ack?.payload?.text)).toContain('/appeal status');
    expect(help.elapsedMs).toBeLessThan(3000);
  });

  it('/appeal <text> posts a card; two approvers react over the socket; approved', async () => {
    const { id, ts, cmd } = await draft('Police are appealing for help to find this man, seen near the station at 2am. Call 101.');
    // Drafting acks at once (empty payload) and posts the card afterwards.
    expect(cmd.ack?.payload ?? {}).toEqual({});
    const card = slack.message(CHANNEL, ts)!;
    expect(card.text).toContain(`#${id}`);
    expect(blocksText(card.blocks)).toContain('Call 101');
    expect(card.reactions.map((r) => r.name).sort()).toEqual(['white_check_mark', 'x']);
    expect(card.reactions.every((r) => r.users.length === 1 && r.users[0] === slack.botUserId)).toBe(true);

    const first = await slack.socketReact({ user: 'UAPP1', channel: CHANNEL, ts, reaction: 'white_check_mark' });
    expect(first.type).toBe('events_api');
    expect(first.ack).toMatchObject({ envelope_id: first.envelopeId });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(CHANNEL, ts)!.blocks)), { description: '1 of 2' });

    await slack.socketReact({ user: 'UAPP2', channel: CHANNEL, ts, reaction: 'white_check_mark' });
    const approved = await slack.waitFor(() => slack.thread(CHANNEL, ts).find((m) => m.user === slack.botUserId && m.text.includes(`#${id} approved`)), { description: 'the approved message' });
    expect(approved.thread_ts).toBe(ts);
    expect(approved.text).toContain('<@UAPP1>');
    expect(approved.text).toContain('<@UAPP2>');
    await slack.waitFor(() => /APPROVED/.test(blocksText(slack.message(CHANNEL, ts)!.blocks)), { description: 'the card says approved' });
  });

  it('a removed reaction over the socket withdraws the approval', async () => {
    const { ts } = await draft('Witness appeal: collision on the A61.');
    await slack.socketReact({ user: 'UAPP1', channel: CHANNEL, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(CHANNEL, ts)!.blocks)), { description: '1 of 2' });
    await slack.socketUnreact({ user: 'UAPP1', channel: CHANNEL, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 0 of 2/.test(blocksText(slack.message(CHANNEL, ts)!.blocks)), { description: 'back to 0 of 2' });
  });

  it('the same events_api payload delivered three times (same event_id) has one effect', async () => {
    const { id, ts } = await draft('Missing: Sam, 15, last seen Friday.');
    const first = await slack.socketReact({ user: 'UOUTSIDER', channel: CHANNEL, ts, reaction: 'white_check_mark' });
    const again = await slack.socketResendEvent(first.eventId, 1, 'timeout');
    // Slack's retry: a new envelope around the same payload; the app acks both.
    expect(again.envelopeId).not.toBe(first.envelopeId);
    expect(again.envelope).toMatchObject({ retry_attempt: 1, retry_reason: 'timeout' });
    expect(first.envelope).toMatchObject({ retry_attempt: 0, retry_reason: '' });
    expect(again.ack?.envelope_id).toBe(again.envelopeId);
    // And the very same envelope (same envelope_id) once more.
    const same = await slack.socketResendEvent(first.eventId, 2, 'timeout', { envelopeId: first.envelopeId });
    expect(same.ack?.envelope_id).toBe(first.envelopeId);

    await slack.waitFor(() => app.logs.filter((l) => l.msg === 'duplicate Slack event ignored' && l.eventId === first.eventId).length === 2, { description: 'two duplicates ignored' });
    await slack.waitFor(() => slack.ephemerals.some((e) => e.user === 'UOUTSIDER' && e.text.includes(`#${id}`)), { description: 'the note to the outsider' });
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.ephemerals.filter((e) => e.user === 'UOUTSIDER' && e.text.includes(`#${id}`))).toHaveLength(1);
    expect(app.logs.filter((l) => l.msg === 'duplicate Slack event ignored' && l.eventId === first.eventId)).toHaveLength(2);
  });

  it('nothing listens on POST /slack/events in Socket Mode; /healthz answers', async () => {
    const body = JSON.stringify({ type: 'event_callback', event_id: 'EvHTTP1', event: { type: 'reaction_added', user: 'UAPP1', reaction: 'white_check_mark', item: { type: 'message', channel: CHANNEL, ts: '1.000001' } } });
    const signed = await postSigned(app.eventsUrl, SIGNING_SECRET, body, 'application/json');
    expect(signed.status).toBe(404);
    const unsigned = await fetch(app.eventsUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(404);
    await unsigned.arrayBuffer();
    const health = await fetch(`${app.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
  });

  it('keeps the connection alive: pings both ways are answered', async () => {
    const conn = slack.socketMode.openConnections()[0]!;
    expect(conn.id).toBe(1); // the same connection since start-up
    await slack.waitFor(() => conn.pongsReceived >= 2 && conn.pingsReceived >= 1, { description: 'pongs to our pings and pings from the SDK' });
    expect(conn.pongsReceived).toBeGreaterThanOrEqual(conn.pingsSent - 1);
  });

  it('reconnects when Slack refreshes the connection, and keeps working', async () => {
    expect(slack.socketDisconnect('refresh_requested')).toBe(1);
    const old = slack.socketMode.connections[0]!;
    // While it is not connected, /healthz says so (a load balancer can act on it).
    await slack.waitFor(async () => {
      const res = await fetch(`${app.url}/healthz`);
      const body = (await res.json()) as { ok: boolean; reason?: string };
      return res.status === 503 && body.ok === false && /socket mode/.test(body.reason ?? '');
    }, { description: '/healthz 503 while reconnecting', timeoutMs: 5000 });
    // The SDK closes the socket, waits clientPingTimeout (5 s), then opens a new URL.
    const next = await slack.waitForSocketConnection({ count: 2, timeoutMs: 20_000 });
    expect(next.id).toBe(2);
    expect(old.open).toBe(false);
    expect(old.closeCode).toBe(1000);
    expect(slack.callsTo('apps.connections.open').map((c) => [c.ok, c.tokenType])).toEqual([[true, 'app'], [true, 'app'], [true, 'app']]);
    expect(slack.socketMode.openConnections().map((c) => c.id)).toEqual([2]);

    const help = await slack.socketSlashCommand({ text: 'help', userId: 'UAPP1', channelId: CHANNEL });
    expect(help.connectionId).toBe(2);
    expect(String(help.ack?.payload?.text)).toContain('/appeal status');
  });

  it('never logs either token', () => {
    const all = `${JSON.stringify(app.logs)}${app.stderr.join('')}`;
    expect(all).not.toContain(APP_TOKEN);
    expect(all).not.toContain(BOT_TOKEN);
  });

  it('SIGTERM: exits 0 and closes its WebSocket cleanly', async () => {
    const conn = slack.socketMode.openConnections().at(-1)!;
    expect(await app.stop()).toBe(0);
    await slack.waitFor(() => !conn.open, { description: 'the connection closed' });
    expect(conn.closeCode).toBe(1000);
    expect(slack.socketMode.deliveries.filter((d) => d.failed)).toEqual([]);
    expect(slack.socketMode.strayMessages).toEqual([]);
  });
});

describe('e2e: Socket Mode start-up', () => {
  it('an app token Slack refuses stops the start-up with an error (no hang, no token printed)', async () => {
    const slack = await startFakeSlack({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
    try {
      const wrong = 'xapp-1-A0APP-1234567890-not0the0right0token';
      const started = startApp({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: wrong, SLACK_API_URL: slack.apiUrl, APPROVERS: 'UAPP1,UAPP2' });
      const err = await started.then(async (a) => {
        await a.kill();
        return undefined;
      }, (e: unknown) => e as Error);
      expect(err?.message).toMatch(/exited with 1 before listening/);
      expect(err?.message).toContain('SLACK_APP_TOKEN: Slack refused a Socket Mode connection');
      expect(err?.message).not.toContain(wrong);
      expect(slack.callsTo('apps.connections.open').map((c) => c.error)).toEqual(['invalid_auth']);
      expect(slack.socketMode.connections).toEqual([]);
    } finally {
      await slack.close();
    }
  });
});

describe('e2e: Socket Mode start-up without connections:write', () => {
  it('stops with the missing scope named instead of retrying for ever', async () => {
    const slack = await startFakeSlack({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
    try {
      slack.failNext('apps.connections.open', { error: 'missing_scope', times: 10 });
      const err = await startApp({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: APP_TOKEN, SLACK_API_URL: slack.apiUrl, APPROVERS: 'UAPP1,UAPP2' }).then(
        async (a) => {
          await a.kill();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(/exited with 1 before listening/);
      expect(err?.message).toContain('SLACK_APP_TOKEN: Slack refused a Socket Mode connection: the app-level token needs the connections:write scope');
      expect(err?.message).not.toContain(APP_TOKEN);
    } finally {
      await slack.close();
    }
  });
});

describe('fake Slack: Socket Mode wire', () => {
  let slack: FakeSlack;
  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
  });
  afterAll(async () => {
    await slack?.close();
  });
  const client = (token?: string) => new WebClient(token, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
  const errorOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e as WebAPIPlatformError).data?.error ?? String(e));

  it('apps.connections.open takes the app token only; the app token opens nothing else', async () => {
    expect(await errorOf(client(BOT_TOKEN).apps.connections.open())).toBe('not_allowed_token_type');
    expect(await errorOf(client('xapp-1-unknown').apps.connections.open())).toBe('invalid_auth');
    expect(await errorOf(client().apps.connections.open())).toBe('not_authed');
    expect(await errorOf(client(APP_TOKEN).chat.postMessage({ channel: 'C1', text: 'hi' }))).toBe('not_allowed_token_type');
    const res = await client(APP_TOKEN).apps.connections.open();
    expect(res.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/socket-mode\?ticket=[^&]+&app_id=A0APP$/);
  });

  it('tickets are single-use; a connection gets hello; envelopes resolve with the ack', async () => {
    const { url } = await client(APP_TOKEN).apps.connections.open();
    const ws = new WebSocket(url!);
    const hello = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.once('message', (d) => resolve(JSON.parse(String(d)) as Record<string, unknown>));
      ws.once('error', reject);
    });
    expect(hello).toMatchObject({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A0APP' } });
    ws.on('message', (d) => {
      const env = JSON.parse(String(d)) as { envelope_id: string; type: string };
      if (env.type === 'slash_commands') ws.send(JSON.stringify({ envelope_id: env.envelope_id, payload: { text: 'pong' } }));
    });
    const cmd = await slack.socketSlashCommand({ text: 'ping', userId: 'U1', channelId: 'C1' });
    expect(cmd.envelope).toMatchObject({ type: 'slash_commands', accepts_response_payload: true, payload: { command: '/appeal', text: 'ping', user_id: 'U1', channel_id: 'C1', response_url: cmd.responseUrl } });
    expect(cmd.ack).toEqual({ envelope_id: cmd.envelopeId, payload: { text: 'pong' } });
    // An events_api envelope nobody acks: rejected after the timeout.
    await expect(slack.socketEvent({ type: 'reaction_added', user: 'U1', reaction: 'x', item: { type: 'message', channel: 'C1', ts: '1.000001' } }, { timeoutMs: 200 })).rejects.toThrow(/no ack within 200 ms/);

    const status = await new Promise<number>((resolve, reject) => {
      const again = new WebSocket(url!);
      again.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        again.terminate();
      });
      again.once('open', () => reject(new Error('a used ticket was accepted')));
      again.once('error', () => undefined);
    });
    expect(status).toBe(401);
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.close(1000);
    await closed;
    await slack.waitFor(() => slack.socketMode.openConnections().length === 0);
    await expect(slack.socketSlashCommand({ text: 'x', userId: 'U1', channelId: 'C1' })).rejects.toThrow(/no open Socket Mode connection/);
  });
});
