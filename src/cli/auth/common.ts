/**
 * What the four `loudhailer auth <network>` flows share: reading settings straight from the
 * environment (the bot's config doesn't need the auth-only ones), asking for what is missing one
 * line at a time on `io.input` (secrets typed on a terminal are not echoed), saying what happens,
 * and turning failures into one plain reason: a refusal names the setting or the step to redo, an
 * unreachable API is reported as unreachable (refused, DNS, timeout), never as a bad credential.
 *
 * Secrets live in memory only: nothing here writes a file or logs, and every secret value seen
 * (from the environment, typed in, or received) is blanked out of any error message.
 */
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';

export interface AuthIO {
  out: { write(line: string): void };
  /** Typed answers, one a line. */
  input: NodeJS.ReadableStream;
  /** Longest wait for one HTTP answer. Default 30 s. */
  httpTimeoutMs?: number;
  /** Longest wait for the browser to come back (YouTube's loopback redirect). Default 10 min. */
  callbackTimeoutMs?: number;
}

/** A line for `.env`: the setting's name and its value. */
export type EnvLine = [name: string, value: string];

/** A failure with its plain reason (never a secret). Exit code 1, or 2 for bad usage or settings. */
export class AuthFailure extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
    this.name = 'AuthFailure';
  }
}

const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
const DEFAULT_CALLBACK_TIMEOUT_MS = 10 * 60_000;
/** Answers that are empty or malformed are asked again this many times in all. */
const TRIES = 3;

/** Reads `input` line by line, on demand; a line can be waited for with a way to give up. */
class LineReader {
  private rl: Interface | undefined;
  private readonly lines: string[] = [];
  private readonly waiters: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  private ended = false;
  private muted = false;
  private readonly tty: boolean;

  constructor(private readonly input: NodeJS.ReadableStream) {
    this.tty = (input as { isTTY?: boolean }).isTTY === true;
  }

  /** The next line; `secret` keeps a terminal from echoing it. */
  next(opts: { secret?: boolean; signal?: AbortSignal } = {}): Promise<string> {
    this.start();
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(new AuthFailure('no answer: the input ended'));
    this.muted = opts.secret === true;
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (line: string) => {
          this.muted = false;
          resolve(line);
        },
        reject,
      };
      this.waiters.push(waiter);
      opts.signal?.addEventListener('abort', () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        this.muted = false;
        reject(new Error('aborted'));
      }, { once: true });
    });
  }

  get isTTY(): boolean {
    return this.tty;
  }

  close(): void {
    this.rl?.close();
  }

  private start(): void {
    if (this.rl) return;
    // On a terminal, readline echoes what is typed itself, through this stream: muted for secrets.
    const echo = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        if (!this.muted) process.stdout.write(chunk);
        done();
      },
    });
    this.rl = createInterface({ input: this.input, crlfDelay: Infinity, ...(this.tty ? { output: echo, terminal: true } : { terminal: false }) });
    this.rl.on('line', (line: string) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(line);
      else this.lines.push(line);
    });
    this.rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w.reject(new AuthFailure('no answer: the input ended'));
    });
  }
}

export class Session {
  /** Every secret value seen: blanked out of error messages. */
  private readonly secrets = new Set<string>();
  private readonly reader: LineReader;
  readonly httpTimeoutMs: number;
  readonly callbackTimeoutMs: number;

  constructor(readonly network: string, private readonly env: NodeJS.ProcessEnv, private readonly io: AuthIO) {
    this.reader = new LineReader(io.input);
    this.httpTimeoutMs = io.httpTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    this.callbackTimeoutMs = io.callbackTimeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS;
  }

  say(line: string): void {
    this.io.out.write(line);
  }

  /** A setting from the environment, trimmed; undefined when unset or blank. */
  setting(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v ? v : undefined;
  }

  /** An http(s) URL setting, or its default; a malformed one stops the command (exit 2). */
  url(name: string, fallback: string): string {
    const raw = this.setting(name) ?? fallback;
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new AuthFailure(`${name}: expected an http(s) URL, default ${fallback}`, 2);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AuthFailure(`${name}: expected an http(s) URL, default ${fallback}`, 2);
    return raw;
  }

  /** Remembers a secret value so that no error message can show it. */
  secret(value: string): string {
    if (value.length >= 4) this.secrets.add(value);
    return value;
  }

  /**
   * The setting `name` from the environment, else asked for (`question`); `check` returns why an
   * answer is unusable (asked again), `secret` keeps it from being echoed and out of errors.
   */
  async value(name: string, question: string, opts: { secret?: boolean; check?: (v: string) => string | undefined } = {}): Promise<string> {
    const fromEnv = this.setting(name);
    if (fromEnv !== undefined) {
      const problem = opts.check?.(fromEnv);
      if (problem) throw new AuthFailure(`${name}: ${problem}`, 2);
      if (opts.secret) this.secret(fromEnv);
      this.say(`${question}: using ${name} from the environment.`);
      return fromEnv;
    }
    return this.ask(`${question} (${name}):`, opts);
  }

  /** Asks until a usable answer comes (at most 3 tries). */
  async ask(question: string, opts: { secret?: boolean; check?: (v: string) => string | undefined } = {}): Promise<string> {
    for (let i = 1; ; i++) {
      this.say(question + (opts.secret && this.reader.isTTY ? ' (typing is not shown)' : ''));
      const answer = (await this.reader.next({ secret: opts.secret === true })).trim();
      if (opts.secret && this.reader.isTTY) this.say('');
      if (opts.secret) this.secret(answer);
      const problem = answer === '' ? 'nothing was typed' : opts.check?.(answer);
      if (!problem) return answer;
      if (i >= TRIES) throw new AuthFailure(`no usable answer: ${problem}`, 1);
      this.say(`That won't do: ${problem}. Try again.`);
    }
  }

  /** The next typed line, until `signal` gives up on it (YouTube: a pasted address, while the browser may answer instead). */
  nextLine(signal: AbortSignal): Promise<string> {
    return this.reader.next({ signal });
  }

  /** `text` with every secret seen replaced by [secret]. */
  redact(text: string): string {
    let out = text;
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('[secret]');
    return out;
  }

  close(): void {
    this.reader.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Unreachable APIs
// ---------------------------------------------------------------------------------------------

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Why a request never got an HTTP answer (an errno-like code, or 'timeout'); undefined when it did, or it isn't a transport failure. */
export function transportCause(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && typeof e === 'object' && e !== null; depth++) {
    // twitter-api-v2's ApiRequestError keeps the socket's error in a hidden `_options.error`.
    const o = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; error?: unknown; requestError?: unknown; _options?: { error?: unknown } };
    if (typeof o.code === 'string' && (/^E[A-Z_]+$/.test(o.code) || o.code.startsWith('UND_ERR') || /CERT|SSL|TLS/.test(o.code))) return o.code;
    if (o.name === 'AbortError' || o.name === 'TimeoutError') return 'timeout';
    if (typeof o.message === 'string' && /^Request timeout/i.test(o.message)) return 'timeout';
    e = [o.cause, o.error, o.requestError, o._options?.error].find((x) => typeof x === 'object' && x !== null);
  }
  return undefined;
}

/** "can't reach api.x.com: connection refused …" for a transport cause. */
export function unreachableReason(host: string, cause: string, timeoutMs: number, setting?: string): string {
  let why: string;
  if (cause === 'ECONNREFUSED') why = `can't reach ${host}: connection refused`;
  else if (DNS_CODES.has(cause)) why = `can't reach ${host}: its name doesn't resolve (DNS lookup failed, ${cause})`;
  else if (cause === 'timeout' || TIMEOUT_CODES.has(cause)) why = `can't reach ${host}: no answer within ${Math.round(timeoutMs / 100) / 10} s (timeout)`;
  else if (cause === 'ECONNRESET' || cause === 'EPIPE' || cause === 'UND_ERR_SOCKET') why = `can't reach ${host}: the connection was cut (${cause})`;
  else if (cause === 'EHOSTUNREACH' || cause === 'ENETUNREACH') why = `can't reach ${host}: no route to it (${cause})`;
  else if (/CERT|SSL|TLS/.test(cause)) why = `can't reach ${host}: its TLS certificate was not accepted (${cause})`;
  else why = `can't reach ${host} (${cause})`;
  return `${why}. Nothing was checked: this is the network (connection, proxy, firewall)${setting ? ` or ${setting}` : ''}, not the credentials.`;
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** fetch with a timeout; a request that gets no answer becomes AuthFailure(unreachable). */
export async function fetchOrUnreachable(s: Session, url: string, init: RequestInit, setting?: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(s.httpTimeoutMs), redirect: 'manual' });
  } catch (err) {
    throw new AuthFailure(unreachableReason(hostOf(url), transportCause(err) ?? causeMessage(err), s.httpTimeoutMs, setting));
  }
}

/** The innermost message of a failure without an errno code ("bad port"), short. */
function causeMessage(err: unknown): string {
  let e: unknown = err;
  let message = 'request failed';
  for (let depth = 0; depth < 6 && typeof e === 'object' && e !== null; depth++) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m !== '') message = m;
    e = (e as { cause?: unknown }).cause;
  }
  return message.slice(0, 80);
}

/** Reads a body as text; a body cut short is a transport failure. */
export async function textOrUnreachable(s: Session, url: string, res: Response, setting?: string): Promise<string> {
  try {
    return await res.text();
  } catch (err) {
    throw new AuthFailure(unreachableReason(hostOf(url), transportCause(err) ?? 'ECONNRESET', s.httpTimeoutMs, setting));
  }
}

/** A value for a `.env` line: bare when safe, else quoted. */
export function envValue(value: string): string {
  if (/^[A-Za-z0-9_.~+/=:@-]*$/.test(value)) return value;
  if (!value.includes("'")) return `'${value}'`;
  return value.includes('"') ? `\`${value}\`` : `"${value}"`;
}
