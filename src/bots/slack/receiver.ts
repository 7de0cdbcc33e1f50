/**
 * The HTTP side of the Slack app: a Bolt Receiver that the app's own HTTP server hands
 * `POST /slack/events` to. Every request is authenticated (signature and a ±5 minute
 * timestamp) before its body is even parsed; anything else gets a 401 and changes nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import type { Clock, Logger } from '../../core/ports.js';
import { verifySlackSignature } from './verify.js';

/** Slack's payloads are small; anything bigger is not from Slack. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Slack waits 3 s for an acknowledgement. */
const ACK_TIMEOUT_MS = 3000;

export class SignedHttpReceiver implements Receiver {
  private app: App | undefined;

  constructor(
    private readonly opts: { signingSecret: string; logger: Logger; clock: Clock },
  ) {}

  init(app: App): void {
    this.app = app;
  }

  // The HTTP server belongs to the application (src/main.ts); nothing to start or stop here.
  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const log = this.opts.logger;
    if (req.method !== 'POST') return reply(res, 405, 'method not allowed');

    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY_BYTES);
    } catch {
      return reply(res, 413, 'request too large');
    }

    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const verdict = verifySlackSignature({
      signingSecret: this.opts.signingSecret,
      rawBody: raw,
      timestamp: header('x-slack-request-timestamp'),
      signature: header('x-slack-signature'),
      nowMs: this.opts.clock.now(),
    });
    if (!verdict.ok) {
      log.warn({ reason: verdict.reason, ip: req.socket.remoteAddress }, 'refused an unauthenticated Slack request');
      return reply(res, 401, 'unauthorized');
    }

    let body: Record<string, unknown>;
    try {
      body = parseBody(raw.toString('utf8'), header('content-type') ?? '');
    } catch {
      return reply(res, 400, 'malformed body');
    }

    if (body.ssl_check) return reply(res, 200, '');
    if (body.type === 'url_verification') {
      return reply(res, 200, JSON.stringify({ challenge: String(body.challenge ?? '') }), 'application/json');
    }

    let acked = false;
    const received = this.opts.clock.now();
    const ack = async (response?: unknown): Promise<void> => {
      if (acked) return;
      acked = true;
      const late = this.opts.clock.now() - received;
      if (late > ACK_TIMEOUT_MS) log.warn({ ms: late }, 'acknowledged after 3 s: Slack will have shown an error or retried');
      if (response === undefined || response === '') reply(res, 200, '');
      else if (typeof response === 'string') reply(res, 200, response, 'text/plain; charset=utf-8');
      else reply(res, 200, JSON.stringify(response), 'application/json');
    };

    const retryNum = Number(header('x-slack-retry-num'));
    const event: ReceiverEvent = {
      body,
      ack,
      ...(Number.isFinite(retryNum) && header('x-slack-retry-num') !== undefined ? { retryNum } : {}),
      ...(header('x-slack-retry-reason') ? { retryReason: header('x-slack-retry-reason')! } : {}),
    };
    try {
      if (!this.app) throw new Error('receiver not initialised');
      await this.app.processEvent(event);
    } catch (err) {
      log.error({ err }, 'processing a Slack request failed');
      if (!acked) {
        acked = true;
        reply(res, 500, 'internal error');
      }
    }
  }
}

function reply(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseBody(raw: string, contentType: string): Record<string, unknown> {
  if (contentType.includes('application/x-www-form-urlencoded')) {
    const form = parseQuery(raw) as Record<string, unknown>;
    // Interactivity payloads carry one field, `payload`, holding JSON.
    if (typeof form.payload === 'string') return JSON.parse(form.payload) as Record<string, unknown>;
    return form;
  }
  const parsed: unknown = JSON.parse(raw);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
  return parsed as Record<string, unknown>;
}
