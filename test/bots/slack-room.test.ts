import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_CACHE_MS, SlackRoom } from '../../src/bots/slack/room.js';
import type { Logger } from '../../src/core/ports.js';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const TOKEN = 'xoxb-room-test';

describe('SlackRoom: approvers in user groups', () => {
  let slack: FakeSlack;
  let now = 1_700_000_000_000;
  let room: SlackRoom;
  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: TOKEN });
    room = new SlackRoom(new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } }), 'UBOT', { logger: silent, clock: { now: () => now } });
  });
  afterAll(async () => {
    await slack.close();
  });

  const lookups = () => slack.callsTo('usergroups.users.list').length;

  it('expands groups with usergroups.users.list, caching membership for at most 60 s', async () => {
    slack.setUserGroup('SAPPROVERS', ['UGRP1']);
    expect((await room.usersCoveredBy(['UGRP1', 'UOUT'], ['U1', 'SAPPROVERS'])).covered).toEqual(new Set(['UGRP1']));
    expect(lookups()).toBe(1);

    slack.setUserGroup('SAPPROVERS', []); // UGRP1 leaves the group
    now += GROUP_CACHE_MS - 1;
    expect((await room.usersCoveredBy(['UGRP1'], ['SAPPROVERS'])).covered.has('UGRP1')).toBe(true);
    expect(lookups()).toBe(1);

    now += 2; // past 60 s: fetched again, and the change shows
    expect((await room.usersCoveredBy(['UGRP1'], ['SAPPROVERS'])).covered.has('UGRP1')).toBe(false);
    expect(lookups()).toBe(2);
    expect(GROUP_CACHE_MS).toBeLessThanOrEqual(60_000);
  });

  it('asks nothing when every user is named directly', async () => {
    const before = lookups();
    expect((await room.usersCoveredBy(['U1', 'U2'], ['U1', 'U2', 'SAPPROVERS'])).covered).toEqual(new Set(['U1', 'U2']));
    expect(lookups()).toBe(before);
  });

  it('reports a group it could not read as unresolved (never as "no members")', async () => {
    slack.setUserGroup('SBROKEN', ['UGRP9']);
    slack.setMissingScope('usergroups.users.list', true);
    const r = await room.usersCoveredBy(['UGRP9', 'U1'], ['U1', 'SBROKEN']);
    expect(r.unresolved).toEqual(['SBROKEN']);
    expect(r.covered).toEqual(new Set(['U1']));
    slack.setMissingScope('usergroups.users.list', false);
    expect((await room.usersCoveredBy(['UGRP9'], ['SBROKEN'])).unresolved).toEqual([]);
  });
});
