import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { entryHash, type AuditEntry } from '../../src/core/audit.js';
import { openStore } from '../../src/store/index.js';
import { startFakeFacebook, type FakeFacebook } from '../fakes/facebook.js';
import { startFakeSlack, type FakeSlack, type StoredMessage } from '../fakes/slack.js';
import { startFakeX, type FakeX } from '../fakes/x.js';
import { plainPng } from '../helpers/images.js';
import { BOT_TOKEN, MAIN, ROOT, SIGNING_SECRET, startApp, X_CREDENTIALS, xEnv, type RunningApp } from './harness.js';

/**
 * The follow-ups of a published appeal against the real app (dist/main.js) and the fakes:
 * an update approved by two colleagues and replied on every network (then withdrawn with the
 * appeal), the hash-chained audit trail exported to the thread and checked by
 * `loudhailer audit verify`, and scheduled reach reports from two replicas on one store,
 * each slot posted once.
 */
const CHANNEL = 'CINCIDENT6';
const REPORTS = 'CREPORTS1';
const FB = { pageId: '102030405060709', pageToken: 'EAAe2eFacebookPageToken001' };
const ID_RE = /Appeal #([2-9A-HJKMNP-Z]{4,8})/;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('e2e: updates, the audit trail and reach reports', () => {
  let slack: FakeSlack;
  let x: FakeX | undefined;
  let fb: FakeFacebook | undefined;
  const apps: RunningApp[] = [];

  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: BOT_TOKEN });
    slack.addChannel(CHANNEL, 'op-riverside');
    slack.addChannel(REPORTS, 'command-team');
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.stop();
    await Promise.all([x?.close(), fb?.close()]);
    x = undefined;
    fb = undefined;
  });
  afterAll(async () => {
    await slack?.close();
  });

  /** The app with fake X (and fake Facebook when asked), on its own store unless one is given. */
  async function start(opts: { facebook?: boolean; env?: Record<string, string>; storeUrl?: string } = {}): Promise<RunningApp> {
    const app = await startApp(
      {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slack.apiUrl,
        APPROVERS: 'UAPP1,UAPP2,UAPP3',
        REACH_REFRESH_SECONDS: '10',
        ...xEnv(x!.url),
        ...(opts.facebook ? { FACEBOOK_PAGE_ID: FB.pageId, FACEBOOK_PAGE_TOKEN: FB.pageToken, FACEBOOK_GRAPH_URL: fb!.url } : {}),
        ...opts.env,
      },
      opts.storeUrl ? { storeUrl: opts.storeUrl } : {},
    );
    apps.push(app);
    return app;
  }

  const botThread = (rootTs: string) => slack.thread(CHANNEL, rootTs).filter((m) => m.user === slack.botUserId);
  const said = (rootTs: string, re: RegExp) => botThread(rootTs).filter((m) => re.test(m.text));
  const live = (rootTs: string, label: string) => said(rootTs, new RegExp(`is live on ${label}\\b`));

  /** The text of a slash command's immediate (ephemeral) answer. */
  function answer(res: { text: string }): string {
    try {
      return String((JSON.parse(res.text) as { text?: unknown }).text ?? '');
    } catch {
      return res.text;
    }
  }

  async function command(app: RunningApp, text: string, userId = 'UAUTHOR', channelId = CHANNEL): Promise<string> {
    const res = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text, userId, channelId });
    expect(res.status).toBe(200);
    return answer(res);
  }

  async function draft(app: RunningApp, text: string): Promise<{ id: string; rootTs: string }> {
    const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
    await command(app, text);
    const card = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId), { description: 'the card' });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'seeded reactions' });
    return { id: ID_RE.exec(card.text)![1]!, rootTs: card.ts };
  }

  async function approve(app: RunningApp, cardTs: string, users = ['UAPP1', 'UAPP2']) {
    const deliveries = [];
    for (const user of users) deliveries.push(await slack.react(app.eventsUrl, SIGNING_SECRET, { user, channel: CHANNEL, ts: cardTs, reaction: 'white_check_mark' }));
    return deliveries;
  }

  /** Ephemeral notes to `user` whose text matches (in one appeal's thread, when given). */
  const notes = (user: string, re: RegExp, rootTs?: string) => slack.ephemerals.filter((e) => e.user === user && re.test(e.text) && (rootTs === undefined || e.thread_ts === rootTs));
  /** Update cards in a thread (their fallback text names the update). */
  const updateCards = (rootTs: string) => botThread(rootTs).filter((m) => /^Update \d+ to appeal/.test(m.text) && (m.blocks?.length ?? 0) > 0);

  // ---------------------------------------------------------------- updates

  it('an update to an appeal live on X and Facebook: the author\'s ✅ does not count, two approvers\' do, one reply on each network, a redelivered reaction posts nothing twice, and withdrawing takes the replies down with the posts', async () => {
    x = await startFakeX(X_CREDENTIALS);
    fb = await startFakeFacebook(FB);
    const app = await start({ facebook: true });
    const { id, rootTs } = await draft(app, 'Missing: Ellie, 14, last seen at Riverside station on Friday at 18:00. Call 101.');
    await approve(app, rootTs);
    for (const label of ['X', 'Facebook']) await slack.waitFor(() => live(rootTs, label)[0], { description: `live on ${label}`, timeoutMs: 20_000 });
    const post = x.livePosts()[0]!;
    const fbPost = fb.livePosts()[0]!;
    expect(x.livePosts()).toHaveLength(1);
    expect(fb.livePosts()).toHaveLength(1);

    // Drafted by the author: a card in the thread, seeded with the reactions.
    const drafted = await command(app, `update ${id} found safe — thank you`);
    expect(drafted).toContain(`Update 1 to #${id} drafted`);
    expect(drafted).toMatch(/X, Facebook|Facebook, X/);
    const card = await slack.waitFor(() => updateCards(rootTs)[0], { description: 'the update card' });
    expect(card.text).toContain(`Update 1 to appeal #${id}`);
    expect(JSON.stringify(card.blocks)).toContain('found safe — thank you');
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'update card reactions' });

    // The author's own ✅: told privately it doesn't count; nothing goes out.
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark' });
    const own = await slack.waitFor(() => notes('UAUTHOR', new RegExp(`You drafted update 1 to #${id}`))[0], { description: 'the note to the author' });
    expect(own.text).toContain("can't count");
    expect(x.replyCalls).toBe(0);
    expect(fb.commentsOn(fbPost.id)).toHaveLength(0);

    // Two approvers: one reply on each network, the thread gets the links.
    const [, second] = await approve(app, card.ts);
    const done = await slack.waitFor(() => said(rootTs, new RegExp(`Update 1 to #${id} posted`))[0], { description: 'update posted', timeoutMs: 20_000 });
    const replies = x.replies(post.id);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.inReplyTo).toBe(post.id);
    expect(replies[0]!.sentText).toContain('found safe — thank you');
    expect(replies[0]!.sentText).toContain(`Ref ${id}`);
    const replyRequests = x.requestsTo('reply');
    expect(replyRequests).toHaveLength(1);
    expect((replyRequests[0]!.body as { reply?: { in_reply_to_tweet_id?: string } }).reply?.in_reply_to_tweet_id).toBe(post.id);
    const comments = fb.commentsOn(fbPost.id);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.message).toContain('found safe — thank you');
    expect(done.text).toContain('on 2 networks');
    expect(done.text).toContain(replies[0]!.id);
    expect(done.text).toContain(comments[0]!.id);
    expect(said(rootTs, /approved/).some((m) => m.text.includes(`Update 1 to #${id} approved`))).toBe(true);

    // Slack redelivers the second approval (same event id), and a duplicate arrives with a new id.
    await slack.resendEvent(app.eventsUrl, SIGNING_SECRET, second!.eventId);
    await slack.waitFor(() => app.logs.find((l) => l.msg === 'duplicate Slack event ignored' && l.eventId === second!.eventId), { description: 'the redelivery ignored' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark', updateState: false });
    // Handled once it is in the audit trail: UAPP2's ✅ on the update card, twice now, counted both times.
    const onUpdateCard = (es: AuditEntry[]) => es.filter((e) => e.action === 'reaction' && e.actor === 'UAPP2' && e.detail.includes("update 1's card"));
    const uapp2 = await waitForAudit(app.storeUrl, id, (es) => onUpdateCard(es).length >= 2);
    expect(onUpdateCard(uapp2).map((e) => e.reason)).toEqual([expect.stringMatching(/^counted/), expect.stringMatching(/^counted/)]);
    // Neither approver was told their ✅ changed nothing: both counted.
    expect(notes('UAPP1', /changes nothing/, rootTs)).toHaveLength(0);
    expect(notes('UAPP2', /changes nothing/, rootTs)).toHaveLength(0);
    expect(x.replyCalls).toBe(1);
    expect(x.replies(post.id)).toHaveLength(1);
    expect(fb.requestsTo('comments')).toHaveLength(1);
    expect(said(rootTs, /Update 1 to #\w+ posted/)).toHaveLength(1);
    expect(said(rootTs, /Update 1 to #\w+ approved/)).toHaveLength(1);

    // Withdrawn: the appeal's posts and the update's replies are gone from both networks.
    expect(await command(app, `withdraw ${id} found safe`)).toContain(`Withdrawing #${id}`);
    await slack.waitFor(() => said(rootTs, /withdrawn everywhere/)[0], { description: 'withdrawn everywhere', timeoutMs: 20_000 });
    expect(x.post(post.id)!.deleted).toBe(true);
    expect(x.post(replies[0]!.id)!.deleted).toBe(true);
    expect(x.livePosts()).toHaveLength(0);
    expect(fb.livePosts()).toHaveLength(0);
    expect(fb.commentsOn(fbPost.id)).toHaveLength(0);
  });

  it('an update refused with a clear answer and no card: on a draft, on an unknown id, and too long for X', async () => {
    x = await startFakeX(X_CREDENTIALS);
    const app = await start();
    const { id, rootTs } = await draft(app, 'Appeal: have you seen this silver hatchback? It left the scene on Mill Lane.');
    const topLevelBefore = slack.messages(CHANNEL).filter((m) => !m.thread_ts).length;
    const callsBefore = slack.calls.length;

    const onDraft = await command(app, `update ${id} found safe — thank you`);
    expect(onDraft).toContain(`#${id} is draft`);
    expect(onDraft).toContain('Nothing was drafted');

    const unknown = await command(app, 'update ZZZZ found safe — thank you');
    expect(unknown).toContain('No appeal #ZZZZ in this channel');

    await approve(app, rootTs);
    await slack.waitFor(() => live(rootTs, 'X')[0], { description: 'live on X', timeoutMs: 20_000 });
    const tooLong = await command(app, `update ${id} ${'The driver has now been traced and spoken to by officers. '.repeat(6)}`);
    expect(tooLong).toMatch(/the update is \d+\/280 for X as a reply/);
    expect(tooLong).toContain('shorten it');
    expect(tooLong).toContain('Nothing was drafted');

    // No card anywhere: none in the thread, no new message in the channel, none ever sent.
    expect(updateCards(rootTs)).toHaveLength(0);
    expect(slack.messages(CHANNEL).filter((m) => !m.thread_ts)).toHaveLength(topLevelBefore);
    expect(slack.calls.slice(callsBefore).filter((c) => c.method === 'chat.postMessage' && /Update \d+ to appeal/.test(String(c.params.text)))).toHaveLength(0);
    expect(x.replyCalls).toBe(0);
  });

  // ---------------------------------------------------------------- audit trail

  it('the audit trail of a full appeal: exported to its thread as JSON Lines and CSV, every entry\'s hash recomputes and chains; `audit verify` says ok, then BROKEN at the edited entry; a missing store exits 2', async () => {
    x = await startFakeX(X_CREDENTIALS);
    const app = await start();
    const { id, rootTs } = await draft(app, 'Appeal: do you recognise this man? He was seen near the jewellers on Bridge Street.');
    expect(await command(app, `status ${id}`)).toContain(`#${id}`);
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel: CHANNEL, threadTs: rootTs, files: [{ name: 'cctv-still.png', bytes: await plainPng(64, 48), mimetype: 'image/png' }] });
    const card = await slack.waitFor(() => botThread(rootTs).find((m) => m.ts !== rootTs && (m.blocks?.length ?? 0) > 0), { description: 'card 2', timeoutMs: 20_000 });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2, { description: 'card 2 reactions' });

    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UOUTSIDER', channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => notes('UOUTSIDER', /aren't an authorised approver/)[0], { description: 'the refusal' });
    await approve(app, card.ts);
    await slack.waitFor(() => live(rootTs, 'X')[0], { description: 'live on X', timeoutMs: 20_000 });

    const uploadsBefore = slack.uploads.length;
    const asked = await command(app, `audit ${id}`, 'UAPP1');
    expect(asked).toMatch(new RegExp(`audit trail of #${id} \\(\\d+ entries\\) is in the appeal's thread`));
    const uploads = slack.uploads.slice(uploadsBefore);
    expect(uploads.map((u) => u.filename.replace(/^.*\./, '')).sort()).toEqual(['csv', 'jsonl']);
    for (const u of uploads) {
      expect(u.completed).toBe(true);
      expect(u.channel).toBe(CHANNEL);
      expect(u.thread_ts).toBe(rootTs);
      expect(u.filename.startsWith(id)).toBe(true);
    }
    expect(slack.callsTo('files.getUploadURLExternal').length).toBeGreaterThanOrEqual(2);
    expect(uploads[0]!.initial_comment).toContain('Every entry matches its hash');
    const posted = botThread(rootTs).find((m) => m.upload && m.ts === uploads[0]!.messageTs);
    expect(posted?.files?.map((f) => f.name).sort()).toEqual(uploads.map((u) => u.filename).sort());

    const jsonl = uploads.find((u) => u.filename.endsWith('.jsonl'))!.bytes!.toString('utf8');
    const entries = jsonl.trim().split('\n').map((line) => JSON.parse(line) as AuditEntry);
    expect(entries.length).toBeGreaterThanOrEqual(9);
    expect(entries.every((e) => e.appeal === id)).toBe(true);
    // The export itself is in it: who asked, last.
    expect(entries.at(-1)).toMatchObject({ action: 'audit_export', detail: expect.stringContaining(`/appeal audit ${id}`) });
    const csv = uploads.find((u) => u.filename.endsWith('.csv'))!.bytes!.toString('utf8').trim().split('\r\n');
    expect(csv[0]).toBe('seq,at,appeal,actor,action,network,detail,hash,reason,prev,entryHash');
    expect(csv).toHaveLength(entries.length + 1);

    // In order: drafted, the status command, the image, its card, the refused ✅, approval, publishing.
    const at = (pred: (e: AuditEntry) => boolean, what: string) => {
      const i = entries.findIndex(pred);
      expect(i, what).toBeGreaterThanOrEqual(0);
      return i;
    };
    const order = [
      at((e) => e.action === 'drafted' && e.actor === 'UAUTHOR', 'drafted'),
      at((e) => e.action === 'command' && e.actor === 'UAUTHOR' && e.detail.startsWith(`/appeal status ${id}`), 'command'),
      at((e) => e.action === 'media_added' && e.actor === 'UAUTHOR' && e.detail.includes('cctv-still.png'), 'media_added'),
      at((e) => e.action === 'card' && e.detail.startsWith('card 2'), 'card'),
      at((e) => e.action === 'reaction' && e.actor === 'UOUTSIDER' && e.reason === 'not counted: not an authorised approver', 'refused reaction'),
      at((e) => e.action === 'approved', 'approved'),
      at((e) => e.action === 'published' && e.network === 'x', 'published'),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // Both approvals count in the trail, as in the approval itself (neither is "not counted").
    expect(entries.filter((e) => e.action === 'reaction' && /^counted/.test(e.reason ?? '')).map((e) => e.actor).sort()).toEqual(['UAPP1', 'UAPP2']);
    expect(entries.find((e) => e.action === 'approved')!.detail).toContain('UAPP1, UAPP2');
    expect(notes('UAPP2', /changes nothing/, rootTs)).toHaveLength(0);

    // Every hash recomputes; consecutive entries of the global log chain.
    for (const e of entries) {
      const { entryHash: stored, ...rest } = e;
      expect(entryHash(rest), `entry ${e.seq}`).toBe(stored);
    }
    for (let i = 1; i < entries.length; i++) {
      expect(entries[i]!.seq).toBeGreaterThan(entries[i - 1]!.seq);
      if (entries[i]!.seq === entries[i - 1]!.seq + 1) expect(entries[i]!.prev, `entry ${entries[i]!.seq}`).toBe(entries[i - 1]!.entryHash);
    }

    // The CLI on the stopped app's store: ok; one entry edited: BROKEN there, exit 1.
    expect(await app.stop()).toBe(0);
    const sound = await verify(app.storeUrl);
    expect(sound.code, sound.stdout).toBe(0);
    expect(sound.stdout).toContain('audit verify: ok');
    const tampered = entries[order[4]!]!.seq;
    const store = await openStore(app.storeUrl);
    try {
      const e = (await store.get<AuditEntry>(`audit:${tampered}`))!;
      expect(e.reason).toBe('not counted: not an authorised approver');
      await store.set(`audit:${tampered}`, { ...e, detail: `${e.detail} (approved by phone)` });
    } finally {
      await store.close();
    }
    const broken = await verify(app.storeUrl);
    expect(broken.code, broken.stdout).toBe(1);
    expect(broken.stdout).toContain(`BROKEN at entry ${tampered}`);

    // `npm run audit:verify` on a store that isn't there.
    const missing = await run('npm', ['run', '--silent', 'audit:verify'], { STORE_URL: `sqlite://${join(mkdtempSync(join(tmpdir(), 'loudhailer-none-')), 'nope', 'store.sqlite')}` }, ROOT);
    expect(missing.code, missing.stdout + missing.stderr).toBe(2);
    expect(missing.stdout).toContain('no store at');
  });

  // ---------------------------------------------------------------- reports

  it('scheduled reports from two replicas on one store: every second\'s slot posted once, as a PNG chart with the appeal\'s id and views; /appeal report posts one on demand', async () => {
    x = await startFakeX(X_CREDENTIALS);
    const env = { REPORT_CRON: '* * * * * *', REPORT_CHANNEL: REPORTS, TZ: 'Europe/London' };
    const a = await start({ env });
    const b = await start({ env, storeUrl: a.storeUrl });
    const { id, rootTs } = await draft(a, 'Appeal: a cyclist was knocked down on Canal Road on Sunday. Did you see it?');
    await approve(a, rootTs);
    await slack.waitFor(() => live(rootTs, 'X')[0], { description: 'live on X', timeoutMs: 20_000 });
    x.setImpressions(x.livePosts()[0]!.id, 4321);
    await slack.waitFor(() => said(rootTs, /Reach of/).find((m) => /X: 4,321 views/.test(m.text)), { description: 'the views in the reach message', timeoutMs: 25_000 });

    const reportUploads = () => slack.uploads.filter((u) => u.completed && u.channel === REPORTS);
    // The appeal's row: its id, X's count and the total in views.
    const withViews = (u: { initial_comment?: string }) => new RegExp(`#${id}\\b[^\\n]*X 4,321[^\\n]*4,321 views`).test(u.initial_comment ?? '');
    await slack.waitFor(() => reportUploads().filter(withViews).length >= 3, { description: 'three reports with the views', timeoutMs: 15_000 });

    // On demand, in the incident channel.
    const onDemandBefore = slack.uploads.length;
    expect(await command(a, 'report', 'UAPP1')).toContain('Reach report posted in this channel');
    const onDemand = slack.uploads.slice(onDemandBefore).filter((u) => u.channel === CHANNEL);
    expect(onDemand).toHaveLength(1);
    expect(onDemand[0]!.thread_ts).toBeUndefined();
    expect(onDemand[0]!.bytes!.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
    expect(onDemand[0]!.initial_comment).toContain('Reach report');
    expect(withViews(onDemand[0]!)).toBe(true);

    // Stop both (a report in flight finishes first), then count.
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    const posted = [...a.logs, ...b.logs].filter((l) => l.msg === 'scheduled report posted').map((l) => String(l.slot));
    const taken = [...a.logs, ...b.logs].filter((l) => l.msg === 'scheduled report already posted by another replica');
    const claimed = await claimedSlots(a.storeUrl);
    expect(posted.length).toBeGreaterThanOrEqual(3);
    expect(new Set(posted).size).toBe(posted.length);
    expect([...posted].sort()).toEqual(claimed);
    expect(taken.length).toBeGreaterThan(0); // both replicas fired: the one that lost the claim stood down
    for (const slot of claimed) expect(slot).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);

    const inChannel: StoredMessage[] = slack.messages(REPORTS);
    const uploads = reportUploads();
    expect(inChannel).toHaveLength(claimed.length);
    expect(uploads).toHaveLength(claimed.length);
    for (const m of inChannel) {
      expect(m.user).toBe(slack.botUserId);
      expect(m.upload).toBe(true);
      expect(m.files).toHaveLength(1);
    }
    for (const u of uploads) {
      expect(u.filename).toMatch(/^reach-.*\.png$/);
      expect(u.bytes!.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
      expect(u.initial_comment).toContain('Scheduled reach report');
      expect(u.initial_comment).toMatch(/GMT|BST/);
      // Before the appeal was live a report has nothing to list; after, it lists the appeal.
      expect(/no live appeals/.test(u.initial_comment!) || u.initial_comment!.includes(`#${id}`)).toBe(true);
    }

    // Both replicas appended to one audit trail: one 'report' entry per slot, and the chain is whole.
    const trail = await wholeTrail(a.storeUrl);
    expect(trail.filter((e) => e.action === 'report' && e.detail.startsWith(`Scheduled reach report posted in ${REPORTS}`))).toHaveLength(claimed.length);
    expect(trail.filter((e) => e.action === 'report' && e.actor === 'UAPP1' && e.detail.startsWith(`Reach report posted in ${CHANNEL}`))).toHaveLength(1);
    const chain = await verify(a.storeUrl);
    expect(chain.code, chain.stdout).toBe(0);
    expect(chain.stdout).toContain(`ok: ${trail.length} entries, chain intact`);
  });
});

/** Polls an appeal's audit entries in the (running) app's store until `done` holds. */
async function waitForAudit(storeUrl: string, id: string, done: (entries: AuditEntry[]) => boolean, timeoutMs = 10_000): Promise<AuditEntry[]> {
  const store = await openStore(storeUrl);
  try {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const seqs = (await store.members(`audit-appeal:${id}`)).map(Number).sort((a, b) => a - b);
      const entries = (await Promise.all(seqs.map((s) => store.get<AuditEntry>(`audit:${s}`)))).filter((e): e is AuditEntry => e !== undefined);
      if (done(entries)) return entries;
      if (Date.now() > until) throw new Error(`audit trail of ${id} not as expected in ${timeoutMs} ms:\n${entries.map((e) => `${e.seq} ${e.actor} ${e.action} ${e.detail} | ${e.reason ?? ''}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await store.close();
  }
}

/** Every entry of a store's audit trail, 1 to the head. */
async function wholeTrail(storeUrl: string): Promise<AuditEntry[]> {
  const store = await openStore(storeUrl);
  try {
    const head = (await store.get<{ seq: number }>('audit:head'))?.seq ?? 0;
    const entries = await Promise.all(Array.from({ length: head }, (_, i) => store.get<AuditEntry>(`audit:${i + 1}`)));
    return entries.filter((e): e is AuditEntry => e !== undefined);
  } finally {
    await store.close();
  }
}

/** Runs `loudhailer audit verify` (the built entry) against a store. */
function verify(storeUrl: string) {
  return run(process.execPath, [MAIN, 'audit', 'verify'], { STORE_URL: storeUrl }, mkdtempSync(join(tmpdir(), 'loudhailer-verify-')));
}

function run(cmd: string, args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The report slots claimed in a SQLite store, sorted (read from the claims table). */
async function claimedSlots(storeUrl: string): Promise<string[]> {
  const path = storeUrl.replace(/^sqlite:\/\//, '');
  const db = new sqlite3.Database(path, sqlite3.OPEN_READONLY);
  try {
    const rows = await new Promise<Array<{ key: string }>>((resolve, reject) =>
      db.all("SELECT key FROM loudhailer_claims WHERE key LIKE 'report-slot:%'", (err, r) => (err ? reject(err) : resolve(r as Array<{ key: string }>))),
    );
    return rows.map((r) => r.key.slice('report-slot:'.length)).sort();
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}
