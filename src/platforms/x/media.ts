/**
 * Image and video upload through X's v2 chunked media upload: initialize → append (1 MB segments) →
 * finalize, then STATUS polls while X says it is processing. Each step is one call through the
 * choke point and is safe to repeat, so a 5xx on segment 3 repeats segment 3, not the upload.
 * (twitter-api-v2's own `uploadMedia` is not used: it sleeps with a real timer while polling
 * and would repeat the whole upload on any error.)
 */
import { NetworkError, type MediaFile } from '../../core/ports.js';
import type { Call } from './call.js';
import type { XHttp } from './client.js';

/** X's limit for images (tweet_image). */
export const X_IMAGE_MAX_BYTES = 5 * 1024 * 1024;
export const X_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif']);
/** X's limit for videos (tweet_video), MP4 or MOV. */
export const X_VIDEO_MAX_BYTES = 512 * 1024 * 1024;
export const X_VIDEO_TYPES: ReadonlySet<string> = new Set(['video/mp4', 'video/quicktime']);
const CHUNK_BYTES = 1024 * 1024;
const VIDEO_CHUNK_BYTES = 4 * 1024 * 1024;
const MAX_STATUS_POLLS = 30;
const MAX_CHECK_AFTER_SECS = 60;

interface ProcessingInfo {
  state?: 'pending' | 'in_progress' | 'succeeded' | 'failed';
  check_after_secs?: number;
  error?: { message?: string };
}

interface MediaData {
  data?: { id?: string; media_key?: string; processing_info?: ProcessingInfo };
}

function invalid(userMessage: string): NetworkError {
  return new NetworkError({ network: 'x', code: 'invalid', userMessage, permanent: true });
}

/** Refuses what X would refuse, before anything is sent. */
export function checkImage(file: MediaFile): void {
  if (X_VIDEO_TYPES.has(file.mime)) {
    if (file.bytes.length === 0) throw invalid(`"${file.name}" is empty`);
    if (file.bytes.length > X_VIDEO_MAX_BYTES) throw invalid(`"${file.name}" is over 512 MB, the most X takes for a video`);
    return;
  }
  if (!X_IMAGE_TYPES.has(file.mime)) {
    throw invalid(`X takes JPEG, PNG, WebP or GIF images, or an MP4 or MOV video; "${file.name}" is ${file.mime}`);
  }
  if (file.bytes.length === 0) throw invalid(`"${file.name}" is empty`);
  if (file.bytes.length > X_IMAGE_MAX_BYTES) {
    const mb = (file.bytes.length / (1024 * 1024)).toFixed(1);
    throw invalid(`"${file.name}" is ${mb} MB; X takes images up to 5 MB`);
  }
}

export async function uploadImage(
  http: XHttp,
  call: Call,
  sleep: (ms: number) => Promise<void>,
  file: MediaFile,
): Promise<string> {
  const opts = { idempotent: true, what: 'media uploads' };
  const video = X_VIDEO_TYPES.has(file.mime);
  const chunkBytes = video ? VIDEO_CHUNK_BYTES : CHUNK_BYTES;
  const init = await call('POST media/upload/initialize', (timeoutMs) =>
    http.postJson<MediaData>('media/upload/initialize', {
      media_type: file.mime, total_bytes: file.bytes.length, media_category: video ? 'tweet_video' : 'tweet_image',
    }, { timeoutMs }), opts);
  const id = init.data?.id;
  if (!id || !/^\d{1,19}$/.test(id)) {
    throw new NetworkError({ network: 'x', code: 'unknown', userMessage: 'X answered the media upload without a media id', permanent: false });
  }

  for (let i = 0; i * chunkBytes < file.bytes.length; i++) {
    const chunk = file.bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes);
    await call(`POST media/upload/${id}/append`, (timeoutMs) =>
      http.postForm<unknown>(`media/upload/${id}/append`, { segment_index: i, media: Buffer.from(chunk) }, { timeoutMs }), opts);
  }

  const fin = await call(`POST media/upload/${id}/finalize`, (timeoutMs) =>
    http.postJson<MediaData>(`media/upload/${id}/finalize`, {}, { timeoutMs }), opts);
  let info = fin.data?.processing_info;
  for (let polls = 0; info && info.state !== 'succeeded'; polls++) {
    if (info.state === 'failed') throw invalid(`X could not process "${file.name}"${info.error?.message ? `: ${info.error.message}` : ''}`);
    if (polls >= MAX_STATUS_POLLS) {
      throw new NetworkError({ network: 'x', code: 'unavailable', userMessage: `X is still processing "${file.name}"; try again later`, permanent: false });
    }
    const secs = Math.min(MAX_CHECK_AFTER_SECS, Math.max(1, info.check_after_secs ?? 1));
    await sleep(secs * 1000);
    const status = await call('GET media/upload STATUS', (timeoutMs) =>
      http.get<MediaData>('media/upload', { command: 'STATUS', media_id: id }, { timeoutMs }), opts);
    info = status.data?.processing_info;
  }
  return id;
}
