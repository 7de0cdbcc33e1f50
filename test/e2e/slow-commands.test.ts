import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNING_SECRET, startRoom, type Room } from './harness.js';

/**
 * Slack allows 3 s for a slash command's acknowledgement. A command that takes longer (here
 * an audit export while Slack answers slowly) is acknowledged at once with "working on it",
 * and its answer follows through the response URL: nobody sees a timeout for something that
 * happened, and types it again.
 */
describe('e2e: a slow command is acknowledged in time and answered when done', () => {
  let room: Room;
  beforeAll(async () => {
    room = await startRoom();
  });
  afterAll(async () => {
    await room.close();
  });

  it('an audit export on a slow Slack: "working on it" within the ack, the answer by response_url', async () => {
    const { slack, app, channel } = room;
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: 'Have you seen this man?', userId: 'UAUTHOR', channelId: channel });
    const card = await slack.waitFor(() => slack.messages(channel).find((m) => m.user === slack.botUserId), { description: 'the card' });
    const id = /#([A-Z0-9]{4,8})/.exec(JSON.stringify(card.blocks))![1]!;

    slack.setLatency(800); // each Web API call takes 0.8 s: the export makes five
    const res = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `audit ${id}`, userId: 'UAPP1', channelId: channel });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Working on it');
    const answer = await slack.waitFor(
      () => slack.responses.find((r) => String(r.body.text ?? '').includes(`audit trail of #${id}`)),
      { description: 'the answer by response_url', timeoutMs: 20_000 },
    );
    expect(answer.body.response_type).toBe('ephemeral');
    expect(slack.uploads.filter((u) => u.completed && u.thread_ts === card.ts)).toHaveLength(2);
    slack.setLatency(0);
  }, 40_000);
});
