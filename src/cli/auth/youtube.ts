/**
 * `loudhailer auth youtube`: Google OAuth 2.0 for installed apps, with google-auth-library's
 * OAuth2 client (endpoints overridable: GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL).
 *
 * A loopback redirect on 127.0.0.1 (a random port) with PKCE (S256) and a random `state`;
 * scopes youtube.upload + youtube + youtube.force-ssl (updates comment on the video),
 * access_type=offline and prompt=consent so Google sends a refresh token. The consent URL is
 * printed; the browser comes back to the loopback server, whose page says the tab can be closed.
 * When the browser runs on another machine (an SSH session), the address it ended on can be
 * pasted instead. The `state` is checked, the code is exchanged with the PKCE verifier, and the
 * refresh token is printed as YOUTUBE_REFRESH_TOKEN with the client's id and secret.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Auth } from 'googleapis';
import { AuthFailure, hostOf, transportCause, unreachableReason, type EnvLine, type Session } from './common.js';

export const GOOGLE_AUTH_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const YOUTUBE_SCOPES = [
  'https://www.googleapis.com/auth/youtube.upload',
  'https://www.googleapis.com/auth/youtube',
  'https://www.googleapis.com/auth/youtube.force-ssl',
] as const;

const CREDENTIALS_PAGE = 'Google Cloud console → APIs & Services → Credentials';

export async function youtubeAuth(s: Session): Promise<EnvLine[]> {
  const authUrl = s.url('GOOGLE_AUTH_URL', GOOGLE_AUTH_URL);
  const tokenUrl = s.url('GOOGLE_TOKEN_URL', GOOGLE_TOKEN_URL);
  s.say(`YouTube: Google sign-in for an installed app. You need an OAuth client of type "Desktop app" (${CREDENTIALS_PAGE}), in a project with the YouTube Data API v3 enabled.`);
  const noSpace = (v: string) => (/\s/.test(v) ? 'it has spaces in it' : undefined);
  const clientId = await s.value('YOUTUBE_CLIENT_ID', 'OAuth client ID', { check: noSpace });
  const clientSecret = await s.value('YOUTUBE_CLIENT_SECRET', 'OAuth client secret', { secret: true, check: noSpace });

  const loopback = await startLoopback();
  try {
    const redirectUri = `http://127.0.0.1:${loopback.port}`;
    const client = new Auth.OAuth2Client({
      clientId, clientSecret, redirectUri,
      endpoints: { oauth2AuthBaseUrl: authUrl, oauth2TokenUrl: tokenUrl },
      transporterOptions: { timeout: s.httpTimeoutMs },
    });
    const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
    s.secret(codeVerifier);
    const state = randomBytes(24).toString('base64url');
    const consentUrl = client.generateAuthUrl({
      access_type: 'offline',
      prompt: 'consent',
      scope: [...YOUTUBE_SCOPES],
      state,
      code_challenge: codeChallenge!,
      code_challenge_method: Auth.CodeChallengeMethod.S256,
    });
    s.say('Open this address in a browser, sign in as the YouTube channel\'s owner (or a manager), and allow every permission asked:');
    s.say(consentUrl);
    s.say(`Waiting for the browser to come back to ${redirectUri} … (if the browser runs on another machine, paste here the whole address it ends on)`);

    const code = await waitForCode(s, loopback, state);
    s.secret(code);

    let tokens: { refresh_token?: string | null; scope?: string };
    try {
      ({ tokens } = await client.getToken({ code, codeVerifier, redirect_uri: redirectUri }));
    } catch (err) {
      throw new AuthFailure(tokenFailure(s, err, tokenUrl));
    }
    const refreshToken = tokens.refresh_token;
    if (!refreshToken) {
      throw new AuthFailure('Google sent no refresh token (it sends one only on a fresh consent with offline access). Remove the app\'s access at https://myaccount.google.com/permissions and run `loudhailer auth youtube` again.');
    }
    s.secret(refreshToken);
    const granted = new Set((tokens.scope ?? YOUTUBE_SCOPES.join(' ')).split(/\s+/).filter(Boolean));
    const missing = YOUTUBE_SCOPES.filter((scope) => !granted.has(scope));
    if (missing.length > 0) {
      throw new AuthFailure(`Google granted only part of the access the bot needs: ${missing.map((m) => m.split('/').pop()).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (uploads need youtube.upload, withdrawal youtube, updates youtube.force-ssl). Run \`loudhailer auth youtube\` again and tick every box on the consent screen.`);
    }
    s.say('Google granted upload, manage and comment access to the channel.');
    return [['YOUTUBE_CLIENT_ID', clientId], ['YOUTUBE_CLIENT_SECRET', clientSecret], ['YOUTUBE_REFRESH_TOKEN', refreshToken]];
  } finally {
    await loopback.close();
  }
}

// ---------------------------------------------------------------------------------------------

interface Loopback {
  port: number;
  /** Resolves with the first callback's query (the path `/` with `code` or `error`). */
  callback: Promise<URLSearchParams>;
  /** Decides what the browser's page says, once the callback has been judged. */
  setVerdict(judge: (q: URLSearchParams) => { status: number; page: string }): void;
  close(): Promise<void>;
}

function page(title: string, text: string): string {
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Loudhailer: ${esc(title)}</title></head>`
    + `<body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>${esc(title)}</h1><p>${esc(text)}</p></body></html>\n`;
}

async function startLoopback(): Promise<Loopback> {
  let judge: ((q: URLSearchParams) => { status: number; page: string }) | undefined;
  let answered = false;
  let deliver!: (q: URLSearchParams) => void;
  const callback = new Promise<URLSearchParams>((resolve) => {
    deliver = resolve;
  });
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
      res.end(body);
    };
    if (req.method !== 'GET' || u.pathname !== '/' || (!u.searchParams.has('code') && !u.searchParams.has('error'))) {
      send(404, page('Not found', 'This address only takes Google\'s answer for `loudhailer auth youtube`.'));
      return;
    }
    if (answered) {
      send(409, page('Already answered', 'Loudhailer already had an answer from Google. You can close this tab.'));
      return;
    }
    answered = true;
    const verdict = judge?.(u.searchParams) ?? { status: 200, page: page('Received', 'You can close this tab.') };
    send(verdict.status, verdict.page);
    deliver(u.searchParams);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  return {
    port: (server.address() as AddressInfo).port,
    callback,
    setVerdict: (j) => {
      judge = j;
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Let answers in flight finish, then drop idle keep-alive connections.
      setTimeout(() => {
        for (const sock of sockets) sock.destroy();
      }, 100).unref();
    }),
  };
}

type Outcome = { code: string } | { failure: string };

function judgeCallback(q: URLSearchParams, state: string): Outcome {
  if (q.get('state') !== state) {
    return { failure: 'the answer that came back does not carry the `state` this run sent (a stale tab, or a forged request), so it was refused. Run `loudhailer auth youtube` again and use the new address.' };
  }
  const error = q.get('error');
  if (error === 'access_denied') return { failure: 'access was not allowed on Google\'s consent screen. Run `loudhailer auth youtube` again and choose Allow.' };
  if (error) return { failure: `Google answered error=${error.slice(0, 60)}${q.get('error_description') ? ` (${q.get('error_description')!.slice(0, 200)})` : ''}.` };
  const code = q.get('code');
  if (!code) return { failure: 'Google\'s answer carried no authorization code. Run `loudhailer auth youtube` again.' };
  return { code };
}

async function waitForCode(s: Session, loopback: Loopback, state: string): Promise<string> {
  loopback.setVerdict((q) => {
    const outcome = judgeCallback(q, state);
    if ('code' in outcome) return { status: 200, page: page('Done', 'Loudhailer has Google\'s answer. You can close this tab and go back to the terminal.') };
    if (q.get('state') !== state) return { status: 400, page: page('Refused', 'This answer does not belong to the sign-in Loudhailer started (state mismatch), so it was refused. Nothing was saved. You can close this tab.') };
    return { status: 200, page: page('Not allowed', 'Access was not granted, so nothing was saved. You can close this tab.') };
  });

  const stop = new AbortController();
  const never = new Promise<never>(() => {});
  // The browser on another machine: the address it ended on, pasted.
  const pasted = (async (): Promise<URLSearchParams> => {
    for (;;) {
      let line: string;
      try {
        line = (await s.nextLine(stop.signal)).trim();
      } catch {
        return never; // gave up on typing (the browser answered), or the input ended: keep waiting for the browser
      }
      if (line === '') continue;
      const q = queryOf(line);
      if (q && (q.has('code') || q.has('error'))) return q;
      s.say('That is not the address Google sent the browser to (it has code=… and state=… in it). Paste the whole address, or wait for the browser.');
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new AuthFailure(`no answer from the browser within ${Math.round(s.callbackTimeoutMs / 60_000) || 1} min. Run \`loudhailer auth youtube\` again.`)), s.callbackTimeoutMs);
  });
  try {
    const q = await Promise.race([loopback.callback, pasted, timeout]);
    const outcome = judgeCallback(q, state);
    if ('failure' in outcome) throw new AuthFailure(outcome.failure);
    return outcome.code;
  } finally {
    stop.abort();
    clearTimeout(timer);
  }
}

function queryOf(line: string): URLSearchParams | undefined {
  try {
    return new URL(line).searchParams;
  } catch {
    return line.includes('code=') || line.includes('error=') ? new URLSearchParams(line.replace(/^[^?]*\?/, '')) : undefined;
  }
}

/** A plain reason for a failed code exchange (never the request, which holds the secret and the code). */
function tokenFailure(s: Session, err: unknown, tokenUrl: string): string {
  const e = err as { response?: { status?: number; data?: unknown } };
  const status = e.response?.status;
  if (typeof status !== 'number') {
    const cause = transportCause(err);
    if (cause) return unreachableReason(hostOf(tokenUrl), cause, s.httpTimeoutMs, 'GOOGLE_TOKEN_URL');
    return `the code exchange failed: ${s.redact(err instanceof Error ? err.message : String(err)).slice(0, 200)}`;
  }
  const data = (typeof e.response?.data === 'object' && e.response.data !== null ? e.response.data : {}) as { error?: unknown; error_description?: unknown };
  const error = typeof data.error === 'string' ? data.error : '';
  const description = typeof data.error_description === 'string' ? ` (Google: "${s.redact(data.error_description).slice(0, 200)}")` : '';
  if (error === 'invalid_client' || error === 'unauthorized_client' || status === 401) {
    return `Google refused the OAuth client${description}: check YOUTUBE_CLIENT_ID and YOUTUBE_CLIENT_SECRET against the client on ${CREDENTIALS_PAGE} (its type must be "Desktop app").`;
  }
  if (error === 'invalid_grant') {
    return `Google refused the authorization code${description}: it expired (codes last minutes), was already used, or did not match this run's PKCE verifier. Run \`loudhailer auth youtube\` again.`;
  }
  if (error === 'redirect_uri_mismatch') {
    return `Google refused the loopback redirect${description}: the OAuth client must be of type "Desktop app" (${CREDENTIALS_PAGE}).`;
  }
  if (status === 429 || status >= 500) return `Google's token endpoint answered HTTP ${status}${description}: try again in a few minutes.`;
  return `Google's token endpoint answered HTTP ${status}${error ? ` ${error.slice(0, 60)}` : ''}${description}.`;
}
