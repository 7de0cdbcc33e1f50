import { inspect } from 'node:util';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatError, SlackRoom } from '../../src/bots/slack/room.js';
import { msg, strong, user } from '../../src/core/messages.js';
import type { Logger, UploadFile } from '../../src/core/ports.js';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const TOKEN = 'xoxb-upload-test-secret';

const jsonl: UploadFile = {
  name: '7K3Q-audit.jsonl', title: 'Audit trail of #7K3Q (JSON lines)', mime: 'application/x-ndjson',
  bytes: Buffer.from('{"at":1,"event":"drafted","by":"U1"}\n{"at":2,"event":"approved","by":"U2","note":"ünïcødé & <tags>"}\n'),
};
const csv: UploadFile = {
  name: '7K3Q-audit.csv', title: 'Audit trail of #7K3Q', mime: 'text/csv',
  bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('at,event,by\r\n1,drafted,U1\r\n2,"approved, twice",U2\r\n')]),
};

/** Awaits a rejection and returns it as a ChatError; fails the test if anything else happened. */
async function chatError(promise: Promise<unknown>): Promise<ChatError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ChatError);
  return err as ChatError;
}

describe('SlackRoom.upload (files.getUploadURLExternal → POST → files.completeUploadExternal)', () => {
  let slack: FakeSlack;
  let room: SlackRoom;
  beforeAll(async () => {
    slack = await startFakeSlack({ botToken: TOKEN });
    const client = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    room = new SlackRoom(client, 'UBOT', { logger: silent, clock: { now: () => Date.now() } });
  });
  afterAll(async () => {
    await slack.close();
  });

  it('puts two files in the thread in one message, with the comment and the exact bytes', async () => {
    const root = await room.post('C1', undefined, msg`Appeal #7K3Q`);
    const before = slack.uploads.length;
    await room.upload('C1', root.ts, [jsonl, csv], msg`${strong('Audit trail')} of #7K3Q for ${user('U1')} <!channel> & co`);

    const ups = slack.uploads.slice(before);
    expect(ups).toHaveLength(2);
    for (const [up, file] of [[ups[0], jsonl], [ups[1], csv]] as const) {
      expect(up?.bytes?.equals(file.bytes)).toBe(true);
      expect(up).toMatchObject({
        filename: file.name, title: file.title, declaredLength: file.bytes.length, completed: true,
        channel: 'C1', thread_ts: root.ts, initial_comment: '*Audit trail* of #7K3Q for <@U1> &lt;!channel&gt; &amp; co',
        uploadContentType: file.mime,
      });
    }
    // One files.completeUploadExternal for both, as the API expects it.
    const completes = slack.callsTo('files.completeUploadExternal');
    expect(completes).toHaveLength(1);
    expect(completes[0]?.params).toMatchObject({
      files: [{ id: ups[0]?.fileId, title: jsonl.title }, { id: ups[1]?.fileId, title: csv.title }], channel_id: 'C1', thread_ts: root.ts,
    });
    expect(slack.callsTo('files.getUploadURLExternal').slice(-2).map((c) => c.params)).toEqual([
      { filename: jsonl.name, length: String(jsonl.bytes.length) },
      { filename: csv.name, length: String(csv.bytes.length) },
    ]);

    // In the thread: one message carrying both files, which download byte for byte.
    const thread = slack.thread('C1', root.ts);
    expect(thread).toHaveLength(2);
    const shared = thread[1]!;
    expect(shared).toMatchObject({ thread_ts: root.ts, upload: true, user: 'UBOT', text: '*Audit trail* of #7K3Q for <@U1> &lt;!channel&gt; &amp; co' });
    expect(shared.files?.map((f) => [f.name, f.title, f.size])).toEqual([
      [jsonl.name, jsonl.title, jsonl.bytes.length],
      [csv.name, csv.title, csv.bytes.length],
    ]);
    for (const [f, file] of [[shared.files?.[0], jsonl], [shared.files?.[1], csv]] as const) {
      expect(slack.file(f!.id)?.bytes.equals(file.bytes)).toBe(true);
      expect(f?.shares?.public?.C1?.[0]).toMatchObject({ ts: shared.ts, thread_ts: root.ts });
    }
  });

  it('uploads to the channel itself without a thread, and without a comment', async () => {
    await room.upload('C2', undefined, [csv]);
    const [top] = slack.messages('C2');
    expect(top).toMatchObject({ upload: true, text: '', files: [{ name: csv.name }] });
    expect(top?.thread_ts).toBeUndefined();
    const params = slack.callsTo('files.completeUploadExternal').at(-1)?.params;
    expect(params).not.toHaveProperty('thread_ts');
    expect(params).not.toHaveProperty('initial_comment');
  });

  it('throws not_in_channel as a clear ChatError, without the token', async () => {
    slack.failChannel('CNOTIN', 'not_in_channel');
    const err = await chatError(room.upload('CNOTIN', '1700000000.000100', [jsonl, csv], msg`Audit`));
    expect(err.code).toBe('not_in_channel');
    expect(err.userMessage).toMatch(/not a member of this channel.*\/invite/);
    expect(err.message).toBe('slack: not_in_channel');
    expect(inspect(err, { depth: 8 })).not.toContain(TOKEN);
    expect(JSON.stringify(err)).not.toContain(TOKEN);
    expect(slack.messages('CNOTIN')).toEqual([]);
  });

  it('turns a refused byte upload into a ChatError naming the file', async () => {
    const completesBefore = slack.callsTo('files.completeUploadExternal').length;
    slack.failNext('upload', { status: 500 });
    const err = await chatError(room.upload('C1', undefined, [csv]));
    expect(err.code).toBe('upload_failed');
    expect(err.userMessage).toContain('"7K3Q-audit.csv"');
    expect(err.userMessage).toContain('HTTP 500');
    expect(inspect(err, { depth: 8 })).not.toContain(TOKEN);
    // Nothing is shared when a file didn't arrive.
    expect(slack.callsTo('files.completeUploadExternal')).toHaveLength(completesBefore);
  });

  it('maps a Web API error of the first step too, and refuses an empty file before asking Slack', async () => {
    slack.setMissingScope('files.getUploadURLExternal', true);
    const scoped = await chatError(room.upload('C1', undefined, [csv]));
    expect(scoped.code).toBe('missing_scope');
    expect(scoped.userMessage).toContain('files:write');
    slack.setMissingScope('files.getUploadURLExternal', false);

    const asked = slack.callsTo('files.getUploadURLExternal').length;
    const empty = await chatError(room.upload('C1', undefined, [csv, { ...csv, name: 'empty.csv', bytes: Buffer.alloc(0) }]));
    expect(empty.code).toBe('empty_file');
    expect(empty.userMessage).toContain('"empty.csv" is empty');
    expect(slack.callsTo('files.getUploadURLExternal')).toHaveLength(asked);
  });

  it('does nothing for no files', async () => {
    const calls = slack.callsTo('files.getUploadURLExternal').length;
    await room.upload('C1', undefined, []);
    expect(slack.callsTo('files.getUploadURLExternal')).toHaveLength(calls);
  });
});
