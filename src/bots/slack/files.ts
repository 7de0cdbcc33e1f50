/**
 * Downloads a file shared in Slack with the bot token — only from Slack's own hosts (the
 * configured API host's origin or files.slack.com), never following a redirect elsewhere
 * (the token must not leave Slack), with a size cap and a timeout.
 */
import { MediaRejected } from '../../core/ports.js';

export interface SlackFile {
  id?: string;
  name?: string | null;
  title?: string | null;
  size?: number;
  mimetype?: string;
  url_private_download?: string;
  url_private?: string;
}

export interface DownloadOptions {
  botToken: string;
  apiUrl: string;
  maxBytes: number;
  timeoutMs: number;
  fetch?: typeof fetch;
}

const MAX_REDIRECTS = 3;

export function allowedOrigins(apiUrl: string): Set<string> {
  return new Set([new URL(apiUrl).origin, 'https://files.slack.com']);
}

export async function downloadSlackFile(file: SlackFile, opts: DownloadOptions): Promise<Buffer> {
  const mb = Math.round(opts.maxBytes / 1024 / 1024);
  if (typeof file.size === 'number' && file.size > opts.maxBytes) {
    throw new MediaRejected(`it is larger than ${mb} MB`);
  }
  const first = file.url_private_download ?? file.url_private;
  if (!first) throw new MediaRejected("Slack didn't give me a download link for it");
  const origins = allowedOrigins(opts.apiUrl);
  const doFetch = opts.fetch ?? fetch;
  const signal = AbortSignal.timeout(opts.timeoutMs);

  let url = first;
  for (let hop = 0; ; hop++) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new MediaRejected("its download link isn't a valid address");
    }
    if (!origins.has(parsed.origin)) throw new MediaRejected("it isn't hosted by Slack, so I won't fetch it");
    let res: Response;
    try {
      res = await doFetch(parsed, { headers: { authorization: `Bearer ${opts.botToken}` }, redirect: 'manual', signal });
    } catch (err) {
      if (signal.aborted) throw new MediaRejected(`the download from Slack took longer than ${Math.round(opts.timeoutMs / 1000)} s`, { cause: err });
      throw new MediaRejected("I couldn't reach Slack to download it", { cause: err });
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location || hop >= MAX_REDIRECTS) throw new MediaRejected('Slack sent me round in circles instead of the file');
      url = new URL(location, parsed).toString();
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new MediaRejected(`Slack refused the download (HTTP ${res.status}); the app may lack the files:read permission`);
    }
    if ((res.headers.get('content-type') ?? '').startsWith('text/html')) {
      await res.body?.cancel();
      throw new MediaRejected('Slack returned a sign-in page instead of the file; the app may lack the files:read permission');
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      await res.body?.cancel();
      throw new MediaRejected(`it is larger than ${mb} MB`);
    }
    return readCapped(res, opts.maxBytes, mb, signal, opts.timeoutMs);
  }
}

async function readCapped(res: Response, max: number, mb: number, signal: AbortSignal, timeoutMs: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        throw new MediaRejected(`it is larger than ${mb} MB`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof MediaRejected) throw err;
    if (signal.aborted) throw new MediaRejected(`the download from Slack took longer than ${Math.round(timeoutMs / 1000)} s`, { cause: err });
    throw new MediaRejected('the download from Slack broke off', { cause: err });
  }
  return Buffer.concat(chunks);
}
