import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blocksText, SIGNING_SECRET, startRoom, type Room } from './harness.js';

/**
 * An approver group Slack won't let us read must never turn a standing rejection into an
 * approval: nothing is approved until the membership can be read, and then the ❌ counts.
 */
describe('e2e: unreadable approver group', () => {
  let room: Room;
  beforeAll(async () => {
    room = await startRoom();
    room.slack.setUserGroup('SAPPROVERS', ['UGRP1']);
  });
  afterAll(async () => {
    await room?.close();
  });

  it('a group member\'s ❌ is not ignored when the group can\'t be read', async () => {
    const { slack, app, channel } = room;
    slack.setMissingScope('usergroups.users.list', true);
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'Appeal: hit and run, High Street.', userId: 'UAUTHOR', channelId: channel });
    const card = await slack.waitFor(() => slack.messages(channel).find((m) => m.user === slack.botUserId && !m.thread_ts));
    const id = /#([2-9A-HJKMNP-Z]{4,8})/.exec(card.text)![1]!;
    await slack.waitFor(() => slack.message(channel, card.ts)!.reactions.length === 2);

    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts: card.ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => /Approvals\* 1 of 2/.test(blocksText(slack.message(channel, card.ts)!.blocks)));
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UGRP1', channel, ts: card.ts, reaction: 'x' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel, ts: card.ts, reaction: 'white_check_mark' });
    const warning = await slack.waitFor(() => slack.thread(channel, card.ts).find((m) => m.text.includes("Couldn't read the members of approver group SAPPROVERS")), { description: 'membership warning' });
    expect(warning.text).toContain(`#${id} can't be approved right now`);
    expect(slack.thread(channel, card.ts).some((m) => m.text.includes(`#${id} approved`))).toBe(false);
    // The group member isn't told they aren't an approver: we don't know that.
    expect(slack.ephemerals.some((e) => e.user === 'UGRP1' && /aren't an authorised approver/.test(e.text))).toBe(false);

    // Once the group can be read, the scheduled re-check finds the rejection.
    slack.setMissingScope('usergroups.users.list', false);
    const rejected = await slack.waitFor(() => slack.thread(channel, card.ts).find((m) => m.text.includes(`#${id} rejected`)), { description: 'rejected after re-check', timeoutMs: 20_000 });
    expect(rejected.text).toContain('<@UGRP1>');
    expect(slack.thread(channel, card.ts).some((m) => m.text.includes(`#${id} approved`))).toBe(false);
  }, 40_000);
});
