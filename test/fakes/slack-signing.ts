/**
 * The inbound side of Slack (Slack → the app): request signing exactly as Slack does it, and a
 * small `fetch` helper that POSTs a signed body the way Slack's servers would.
 *
 * Algorithm (https://docs.slack.dev/authentication/verifying-requests-from-slack):
 *   basestring = "v0:" + X-Slack-Request-Timestamp + ":" + raw request body
 *   X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing secret, basestring))
 * The body is signed byte-for-byte as sent, so never re-serialise it after signing.
 */
import { createHmac } from 'node:crypto';

export interface SlackSignatureHeaders {
  'x-slack-request-timestamp': string;
  'x-slack-signature': string;
}

/** Signs `rawBody` with Slack's v0 scheme. `timestampSeconds` defaults to now (Unix seconds). */
export function signSlackRequest(
  secret: string,
  rawBody: string,
  timestampSeconds: number = Math.floor(Date.now() / 1000),
): SlackSignatureHeaders {
  const ts = String(Math.floor(timestampSeconds));
  const hex = createHmac('sha256', secret).update(`v0:${ts}:${rawBody}`, 'utf8').digest('hex');
  return { 'x-slack-request-timestamp': ts, 'x-slack-signature': `v0=${hex}` };
}

export interface SignedPostResult {
  status: number;
  /** The response body as text ('' for an empty ack). */
  text: string;
  /** The body parsed as JSON when it is JSON, else undefined. */
  json?: unknown;
  headers: Record<string, string>;
  /** Wall time until the whole response was read. Slack gives up (and retries events) after 3 s. */
  elapsedMs: number;
}

export interface PostSignedOptions {
  /** Sign with this timestamp (seconds) instead of now, e.g. to test replay protection. */
  timestampSeconds?: number;
  /** Abort the request after this many ms (default: no limit; Slack's own limit is 3000). */
  timeoutMs?: number;
}

/** Headers Slack's servers send with every request to an app (besides the signature ones). */
export const SLACK_USER_AGENT = 'Slackbot 1.0 (+https://api.slack.com/robots)';

/**
 * POSTs `body` to `url`, signed with `secret`, as Slack would. `extraHeaders` are added last
 * (so they can override the signature, e.g. to forge one).
 */
export async function postSigned(
  url: string,
  secret: string,
  body: string,
  contentType: string,
  extraHeaders: Record<string, string> = {},
  options: PostSignedOptions = {},
): Promise<SignedPostResult> {
  const started = performance.now();
  const headers: Record<string, string> = {
    'content-type': contentType,
    'user-agent': SLACK_USER_AGENT,
    accept: '*/*',
    ...signSlackRequest(secret, body, options.timestampSeconds),
  };
  for (const [k, v] of Object.entries(extraHeaders)) headers[k.toLowerCase()] = v;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body,
    redirect: 'manual',
    ...(options.timeoutMs !== undefined ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
  });
  const text = await res.text();
  const result: SignedPostResult = {
    status: res.status,
    text,
    headers: Object.fromEntries(res.headers.entries()),
    elapsedMs: performance.now() - started,
  };
  if (text !== '') {
    try {
      result.json = JSON.parse(text) as unknown;
    } catch {
      // not JSON: leave json undefined
    }
  }
  return result;
}
