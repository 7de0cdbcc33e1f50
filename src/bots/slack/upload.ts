/**
 * Slack's external file upload (files.upload was retired in November 2025): for each file,
 * files.getUploadURLExternal (name, length) → POST the bytes to the `upload_url` it gives →
 * then one files.completeUploadExternal shares them all in one message (in a thread, with a
 * comment). Both Web API calls go through the room's WebClient (so SLACK_API_URL, retries
 * and rate limits apply as everywhere); the bytes go with fetch, without the token: the
 * upload URL is already authorised.
 */
import type { WebClient } from '@slack/web-api';
import type { UploadFile } from '../../core/ports.js';
import { ChatError } from './room-errors.js';

/** How long one file's bytes may take to reach Slack. */
export const UPLOAD_TIMEOUT_MS = 60_000;

export interface UploadTarget {
  channel: string;
  threadTs?: string;
  /** Already rendered mrkdwn. */
  initialComment?: string;
}

export interface UploadOptions {
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Throws ChatError for a refusal of the bytes; Web API errors come out as the SDK throws them. */
export async function uploadExternal(
  client: WebClient,
  files: readonly UploadFile[],
  target: UploadTarget,
  opts: UploadOptions = {},
): Promise<void> {
  if (files.length === 0) return;
  for (const f of files) {
    if (f.bytes.length === 0) throw new ChatError('empty_file', `the file "${f.name}" is empty, so Slack won't take it`);
  }
  const uploaded: Array<{ id: string; title: string }> = [];
  for (const f of files) {
    const slot = await client.files.getUploadURLExternal({ filename: f.name, length: f.bytes.length });
    if (!slot.upload_url || !slot.file_id) throw new ChatError('invalid_response', "Slack didn't give me somewhere to upload the file");
    await postBytes(slot.upload_url, f, opts);
    uploaded.push({ id: slot.file_id, title: f.title });
  }
  const [first, ...rest] = uploaded;
  await client.files.completeUploadExternal({
    files: [first!, ...rest],
    channel_id: target.channel,
    ...(target.threadTs ? { thread_ts: target.threadTs } : {}),
    ...(target.initialComment ? { initial_comment: target.initialComment } : {}),
  });
}

async function postBytes(url: string, file: UploadFile, opts: UploadOptions): Promise<void> {
  if (!/^https?:\/\//i.test(url)) throw new ChatError('invalid_response', "Slack gave me an upload address I can't use");
  const timeoutMs = opts.timeoutMs ?? UPLOAD_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': file.mime || 'application/octet-stream' },
      body: new Uint8Array(file.bytes.buffer, file.bytes.byteOffset, file.bytes.length),
      signal,
    });
  } catch (err) {
    const words = signal.aborted
      ? `uploading "${file.name}" to Slack took longer than ${Math.round(timeoutMs / 1000)} s`
      : `I couldn't reach Slack to upload "${file.name}"`;
    throw new ChatError('upload_failed', words, { cause: err });
  }
  await res.body?.cancel().catch(() => undefined);
  if (res.status !== 200) {
    const code = res.status === 429 ? 'ratelimited' : 'upload_failed';
    throw new ChatError(code, `Slack refused the file "${file.name}" (HTTP ${res.status}); try again in a minute`);
  }
}
