/**
 * videos.insert as a resumable upload (https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol):
 *
 *   POST {root}upload/youtube/v3/videos?uploadType=resumable&part=snippet,status   (JSON metadata)
 *     → 200, Location: <session URI>
 *   PUT <session>  Content-Range: bytes a-b/total   (chunks of a multiple of 256 KiB)
 *     → 308 Resume Incomplete, Range: bytes=0-b     (more to send)
 *     → 200/201 + the Video                         (done: the video exists)
 *   PUT <session>  Content-Range: bytes * /total  (empty: "where are we?")
 *
 * A chunk that fails (5xx, reset, timeout) is not sent again blindly: after a back-off the
 * session is asked how far it got, and the upload resumes from the server's offset (or the
 * session says it is complete and hands over the video). `fence` runs right before the
 * session is opened and before the chunk that completes the video.
 */
import { NetworkError, type Logger } from '../../core/ports.js';
import type { Call } from './call.js';
import { NETWORK } from './call.js';
import type { YouTubeHttp } from './client.js';

/** The parts of a Video resource we read. */
export interface VideoResource {
  id?: string;
  snippet?: { title?: string; description?: string; publishedAt?: string };
  status?: { uploadStatus?: string; privacyStatus?: string };
  statistics?: { viewCount?: string };
}

export const CHUNK_QUANTUM = 256 * 1024;
/** videos.insert costs 1600 units (1 unit for a session query or chunk PUT would be wrong: they are free). */
export const INSERT_UNITS = 1600;

export interface UploadContext {
  http: YouTubeHttp;
  call: Call;
  logger: Logger;
  sleep: (ms: number) => Promise<void>;
  maxAttempts: number;
  chunkBytes: number;
  timeoutMs: number;
}

type Progress = { done: VideoResource } | { next: number };

export async function resumableInsert(
  ctx: UploadContext,
  file: { bytes: Buffer; mime: string },
  metadata: object,
  fence: (() => Promise<void> | void) | undefined,
): Promise<VideoResource> {
  const { http, call } = ctx;
  const total = file.bytes.length;
  const session = await call('POST upload/youtube/v3/videos (resumable)', async (timeoutMs) => {
    await fence?.();
    const res = await http.send('videos.insert (start)', 'POST', `${http.root}upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`, {
      timeoutMs,
      headers: { 'content-type': 'application/json; charset=UTF-8', 'x-upload-content-length': String(total), 'x-upload-content-type': file.mime },
      body: JSON.stringify(metadata),
    });
    const location = res.headers.get('location');
    await res.arrayBuffer().catch(() => undefined);
    if (!location) throw new NetworkError({ network: NETWORK, code: 'unknown', permanent: false, userMessage: 'YouTube did not open an upload session (no Location)' });
    return new URL(location, http.root).toString();
  }, { idempotent: true, what: 'uploads', units: INSERT_UNITS });

  let offset = 0;
  let failures = 0;
  for (;;) {
    const end = Math.min(total, offset + ctx.chunkBytes);
    const final = end === total;
    let progress: Progress;
    try {
      progress = await call(`PUT upload session (${offset}-${end - 1}/${total})`, async (timeoutMs) => {
        if (final) await fence?.();
        const res = await http.send('videos.insert (bytes)', 'PUT', session, {
          // A chunk gets time to travel, at 100 kB/s at least.
          timeoutMs: timeoutMs + Math.ceil((end - offset) / 100),
          headers: { 'content-type': file.mime, 'content-range': total === 0 ? 'bytes */0' : `bytes ${offset}-${end - 1}/${total}` },
          body: file.bytes.subarray(offset, end),
        });
        return readProgress(res);
      }, { idempotent: false, what: 'uploads', units: 0 });
    } catch (err) {
      if (!(err instanceof NetworkError) || !err.ambiguous) throw err;
      failures += 1;
      if (failures >= ctx.maxAttempts * 2) throw err;
      ctx.logger.warn({ offset, total, error: err.message }, 'YouTube upload interrupted; asking the session how far it got');
      await ctx.sleep(Math.min(30_000, 1_000 * 2 ** (failures - 1)) * (0.5 + Math.random() / 2));
      try {
        progress = await call('PUT upload session (status)', async (timeoutMs) =>
          readProgress(await http.send('videos.insert (status)', 'PUT', session, { timeoutMs, headers: { 'content-range': `bytes */${total}` }, body: '' })),
        { idempotent: true, what: 'uploads', units: 0 });
      } catch (statusErr) {
        if (!final || !(statusErr instanceof NetworkError)) throw statusErr;
        // The last bytes went out and the session can't say what became of them: the video may exist.
        throw new NetworkError({
          network: NETWORK, code: 'unavailable', permanent: false, ambiguous: true, cause: statusErr,
          userMessage: `${statusErr.userMessage}; the upload may have completed`,
        });
      }
    }
    if ('done' in progress) return progress.done;
    if (progress.next <= offset) {
      // No progress (a session that keeps answering 308 for the same range): bounded.
      failures += 1;
      if (failures >= ctx.maxAttempts * 2) {
        throw new NetworkError({ network: NETWORK, code: 'unavailable', permanent: false, ambiguous: final, userMessage: 'YouTube stopped taking the upload (no progress); try again later' });
      }
    }
    offset = progress.next;
  }
}

/** 308 + Range "bytes=0-N" → resume at N+1 (no Range: nothing kept); 200/201 → the Video. */
async function readProgress(res: Response): Promise<Progress> {
  if (res.status === 308) {
    await res.arrayBuffer().catch(() => undefined);
    const m = /^bytes=0-(\d+)$/.exec(res.headers.get('range') ?? '');
    return { next: m ? Number(m[1]) + 1 : 0 };
  }
  const video = (await res.json().catch(() => ({}))) as VideoResource;
  if (!video.id) {
    throw new NetworkError({ network: NETWORK, code: 'unknown', permanent: false, ambiguous: true, userMessage: `YouTube finished the upload but did not say the video's id (HTTP ${res.status})` });
  }
  return { done: video };
}
