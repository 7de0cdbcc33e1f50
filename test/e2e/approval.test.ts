import ExifReader from 'exifreader';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appeal } from '../../src/core/appeal.js';
import { keys } from '../../src/core/service.js';
import { openStore } from '../../src/store/index.js';
import { jpegWithGps } from '../helpers/images.js';
import { blocksText, BOT_TOKEN, SIGNING_SECRET, startRoom, type Room } from './harness.js';

/**
 * The whole foundation flow against the real app (dist/main.js) and a fake Slack:
 * /appeal → card → an image with GPS EXIF in the thread → a fresh card → two approvers
 * react → approved, with the stored processed image free of metadata.
 */
describe('e2e: draft, media, two-person approval', () => {
  let room: Room;
  beforeAll(async () => {
    room = await startRoom();
    room.slack.setUserGroup('SAPPROVERS', ['UGRP1']);
  });
  afterAll(async () => {
    await room?.close();
  });

  async function draft(text: string, user = 'UAUTHOR') {
    const { slack, channel } = room;
    const before = new Set(slack.messages(channel).map((m) => m.ts));
    const res = await slack.slashCommand(room.app.eventsUrl, SIGNING_SECRET, { text, userId: user, channelId: channel });
    expect(res.status).toBe(200);
    const card = await slack.waitFor(() => slack.messages(channel).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId), { description: 'the card' });
    await slack.waitFor(() => slack.message(channel, card.ts)!.reactions.length === 2, { description: 'seeded reactions' });
    const id = /Appeal #([2-9A-HJKMNP-Z]{4,8})/.exec(card.text)![1]!;
    return { id, ts: card.ts };
  }

  async function readAppeal(id: string): Promise<Appeal> {
    const store = await openStore(room.app.storeUrl);
    try {
      return (await store.get<Appeal>(keys.appeal(id)))!;
    } finally {
      await store.close();
    }
  }

  it('runs the whole flow and stores the image without EXIF', async () => {
    const { slack, app, channel } = room;
    const { id, ts: rootTs } = await draft('Police are appealing for help to find this man, seen near the station at 2am. Call 101.');
    const root = slack.message(channel, rootTs)!;
    expect(root.text).toContain(`#${id}`);
    expect(blocksText(root.blocks)).toContain('Call 101');
    expect(root.reactions.map((r) => r.name).sort()).toEqual(['white_check_mark', 'x']);
    expect(root.reactions.every((r) => r.users.length === 1 && r.users[0] === slack.botUserId)).toBe(true);

    // An image with GPS EXIF in the thread.
    const original = await jpegWithGps();
    expect(ExifReader.load(original).GPSLatitude).toBeDefined();
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel, threadTs: rootTs, files: [{ name: 'cctv-still.jpg', bytes: original, mimetype: 'image/jpeg' }] });
    const card2 = await slack.waitFor(() => slack.thread(channel, rootTs).find((m) => m.ts !== rootTs && m.user === slack.botUserId && /card 2|Card 2/.test(blocksText(m.blocks))), { description: 'card 2' });
    expect(blocksText(card2.blocks)).toContain('cctv-still.jpg');
    await slack.waitFor(() => slack.message(channel, card2.ts)!.reactions.length === 2);
    // The first card says it was superseded.
    await slack.waitFor(() => /superseded/.test(blocksText(slack.message(channel, rootTs)!.blocks)), { description: 'card 1 superseded' });

    // The bot itself downloaded the file with its token.
    expect(slack.downloads.length).toBeGreaterThanOrEqual(1);

    // First approval: the card shows 1 of 2.
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts: card2.ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(channel, card2.ts)!.blocks)), { description: '1 of 2' });
    expect((await readAppeal(id)).state).toBe('draft');

    // Second approval, from a member of an approvers user group.
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UGRP1', channel, ts: card2.ts, reaction: 'white_check_mark' });
    const approvedMsg = await slack.waitFor(() => slack.thread(channel, rootTs).find((m) => /approved/.test(m.text) && m.user === slack.botUserId && !m.blocks?.length), { description: 'approved message' });
    expect(approvedMsg.text).toContain(`#${id} approved`);
    expect(approvedMsg.text).toContain('<@UAPP1>');
    expect(approvedMsg.text).toContain('<@UGRP1>');
    expect(slack.callsTo('usergroups.users.list').some((c) => c.params.usergroup === 'SAPPROVERS')).toBe(true);

    const appeal = await readAppeal(id);
    expect(appeal.state).toBe('approved');
    expect(appeal.approval?.approvers.sort()).toEqual(['UAPP1', 'UGRP1']);
    expect(appeal.approval?.hash).toBe(appeal.cards.at(-1)!.hash);
    expect(appeal.media).toHaveLength(1);

    // The stored processed image: a JPEG with no EXIF, GPS, XMP or ICC.
    const store = await openStore(app.storeUrl);
    const stored = Buffer.from((await store.get<string>(keys.media(appeal.media[0]!.sha256)))!, 'base64');
    await store.close();
    const meta = await sharp(stored).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.icc).toBeUndefined();
    const tags = ExifReader.load(stored, { expanded: true });
    expect(tags.gps).toBeUndefined();
    expect(tags.exif).toBeUndefined();

    // The card now says approved; further reactions change nothing.
    await slack.waitFor(() => /APPROVED/.test(blocksText(slack.message(channel, card2.ts)!.blocks)));
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP3', channel, ts: card2.ts, reaction: 'x' });
    await slack.waitFor(() => slack.ephemerals.some((e) => e.user === 'UAPP3' && /already approved/.test(e.text)));
    expect((await readAppeal(id)).state).toBe('approved');
  });

  it('the author, the bot and non-approvers do not count; the author is told why', async () => {
    const { slack, app, channel } = room;
    const { id, ts } = await draft('Have you seen this bicycle?', 'UAPP2'); // the author is an approver
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => slack.ephemerals.some((e) => e.user === 'UAPP2' && new RegExp(`You drafted #${id}`).test(e.text)), { description: 'note to the author' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UOUTSIDER', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => slack.ephemerals.some((e) => e.user === 'UOUTSIDER' && /aren't an authorised approver/.test(e.text)), { description: 'note to the outsider' });
    // Slack reports the bot's own seeded reaction as an event too: it must not count.
    await slack.event(app.eventsUrl, SIGNING_SECRET, { type: 'reaction_added', user: slack.botUserId, reaction: 'white_check_mark', item: { type: 'message', channel, ts }, event_ts: `${Date.now() / 1000}` });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(channel, ts)!.blocks)), { description: '1 of 2' });
    // An outsider's ❌ doesn't reject either.
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UOUTSIDER2', channel, ts, reaction: 'x' });
    await slack.waitFor(() => slack.ephemerals.some((e) => e.user === 'UOUTSIDER2' && /:x: on #\w+ isn't counted/.test(e.text)), { description: 'note to the outsider who rejected' });
    const appeal = await readAppeal(id);
    expect(appeal.state).toBe('draft');
    expect(appeal.pendingApprovers).toEqual(['UAPP1']);
  });

  it('a removed reaction withdraws the approval; an approver\'s ❌ rejects', async () => {
    const { slack, app, channel } = room;
    const { id, ts } = await draft('Witness appeal: collision on the A61.');
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(channel, ts)!.blocks)));
    await slack.unreact(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 0 of 2/.test(blocksText(slack.message(channel, ts)!.blocks)), { description: 'back to 0 of 2' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(channel, ts)!.blocks)));
    expect((await readAppeal(id)).state).toBe('draft');

    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP3', channel, ts, reaction: 'x' });
    await slack.waitFor(() => slack.thread(channel, ts).some((m) => m.text.includes(`#${id} rejected`)), { description: 'rejected message' });
    const appeal = await readAppeal(id);
    expect(appeal.state).toBe('rejected');
    expect(appeal.rejection?.by).toBe('UAPP3');
  });

  it('approvals on an older card do not carry over to a new one', async () => {
    const { slack, app, channel } = room;
    const { id, ts } = await draft('Appeal for dashcam footage.');
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(channel, ts)!.blocks)));
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel, threadTs: ts, files: [{ name: 'still.jpg', bytes: await jpegWithGps(), mimetype: 'image/jpeg' }] });
    const card2 = await slack.waitFor(() => slack.thread(channel, ts).find((m) => m.ts !== ts && m.user === slack.botUserId && /Card 2/.test(blocksText(m.blocks))));
    // A second approval on the OLD card: refused with a note, nothing approved.
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel, ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => slack.ephemerals.some((e) => e.user === 'UAPP2' && /out of date/.test(e.text)), { description: 'stale-card note' });
    let appeal = await readAppeal(id);
    expect(appeal.state).toBe('draft');
    expect(appeal.pendingApprovers).toEqual([]);
    // On the new card, both must approve again.
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel, ts: card2.ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(channel, card2.ts)!.blocks)));
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts: card2.ts, reaction: 'white_check_mark' });
    await slack.waitFor(async () => (await readAppeal(id)).state === 'approved', { description: 'approved on card 2' });
    appeal = await readAppeal(id);
    expect(appeal.approval?.hash).toBe(appeal.cards[1]!.hash);
    expect(appeal.cards[0]!.hash).not.toBe(appeal.cards[1]!.hash);
  });

  it('the same reaction event delivered three times has one effect', async () => {
    const { slack, app, channel } = room;
    const { id, ts } = await draft('Missing: Sam, 15, last seen Friday.');
    const first = await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UOUTSIDER', channel, ts, reaction: 'white_check_mark' });
    await slack.resendEvent(app.eventsUrl, SIGNING_SECRET, first.eventId, 1);
    await slack.resendEvent(app.eventsUrl, SIGNING_SECRET, first.eventId, 2);
    await slack.waitFor(() => app.logs.filter((l) => l.msg === 'duplicate Slack event ignored' && l.eventId === first.eventId).length === 2, { description: 'two duplicates ignored' });
    // The first delivery's note may still be on its way: wait for it, then check no second one comes.
    const notes = () => slack.ephemerals.filter((e) => e.user === 'UOUTSIDER' && e.text.includes(`#${id}`));
    await slack.waitFor(() => notes().length > 0, { description: 'the note to the outsider' });
    await new Promise((r) => setTimeout(r, 300));
    expect(notes()).toHaveLength(1);
  });

  it('status, list and help answer; text never becomes a mass mention', async () => {
    const { slack, app, channel } = room;
    const { id, ts } = await draft('<!channel> &lt;b&gt;urgent&lt;/b&gt; @here @everyone have you seen <https://example.police.uk/a|this appeal>?');
    const card = slack.message(channel, ts)!;
    const rendered = `${card.text}${blocksText(card.blocks)}`;
    expect(rendered).not.toMatch(/<!channel>|<!here>|<!everyone>/);
    expect(rendered).not.toMatch(/@here|@everyone|@channel/); // broken with a zero-width space
    expect(rendered).toContain('https://example.police.uk/a');
    const appeal = await readAppeal(id);
    expect(appeal.text).toContain('<b>urgent</b>'); // the public text is what the author typed

    const status = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `status #${id.toLowerCase()}`, userId: 'UAPP1', channelId: channel });
    expect(status.json).toMatchObject({ response_type: 'ephemeral' });
    expect(String((status.json as { text: string }).text)).toContain(`#${id}`);
    expect(String((status.json as { text: string }).text)).toContain('draft');
    const list = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'list', userId: 'UAPP1', channelId: channel });
    expect(String((list.json as { text: string }).text)).toContain(`#${id}`);
    const help = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'help', userId: 'UAPP1', channelId: channel });
    expect(String((help.json as { text: string }).text)).toContain('/appeal status');
  });

  it('no secret reaches a log line or a chat message, at debug level', () => {
    const { slack, app } = room;
    expect(app.logs.length).toBeGreaterThan(20);
    const logs = JSON.stringify(app.logs) + app.stderr.join('');
    const chat = JSON.stringify(slack.calls.map((c) => c.params)) + JSON.stringify(slack.ephemerals);
    for (const secret of [BOT_TOKEN, SIGNING_SECRET]) {
      expect(logs).not.toContain(secret);
      expect(chat).not.toContain(secret);
    }
  });
});
