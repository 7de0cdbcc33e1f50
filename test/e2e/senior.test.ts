import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blocksText, SIGNING_SECRET, startRoom, type Room } from './harness.js';

/** With SENIOR_APPROVERS, two approvals are not enough unless one is senior; seniors may approve. */
describe('e2e: senior approval', () => {
  let room: Room;
  beforeAll(async () => {
    room = await startRoom({ SENIOR_APPROVERS: 'SSENIORS', APPROVE_EMOJI: ':+1:' });
    room.slack.setUserGroup('SSENIORS', ['USUPT']);
    room.slack.setUserGroup('SAPPROVERS', []);
  });
  afterAll(async () => {
    await room?.close();
  });

  it('needs a senior among the approvers, with a configured approve emoji', async () => {
    const { slack, app, channel } = room;
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'Appeal: armed robbery, Main Street.', userId: 'UAUTHOR', channelId: channel });
    const card = await slack.waitFor(() => slack.messages(channel).find((m) => m.user === slack.botUserId && !m.thread_ts));
    await slack.waitFor(() => slack.message(channel, card.ts)!.reactions.map((r) => r.name).sort().join() === '+1,x', { description: 'seeded +1 and x' });
    expect(blocksText(card.blocks)).toContain('a senior approver must be one of them');

    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel, ts: card.ts, reaction: '+1' });
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel, ts: card.ts, reaction: '+1::skin-tone-3' });
    await slack.waitFor(() => /Approvals\* 2 of 2/.test(blocksText(slack.message(channel, card.ts)!.blocks)), { description: '2 of 2, senior missing' });
    expect(blocksText(slack.message(channel, card.ts)!.blocks)).toContain('a senior approver must be one of them');
    expect(slack.thread(channel, card.ts).some((m) => / approved\*? by/.test(m.text))).toBe(false);

    // The superintendent is only in the senior group, not in APPROVERS: seniors may approve.
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'USUPT', channel, ts: card.ts, reaction: '+1' });
    const approved = await slack.waitFor(() => slack.thread(channel, card.ts).find((m) => / approved\*? by/.test(m.text)), { description: 'approved' });
    expect(approved.text).toContain('<@USUPT>');
  });
});
