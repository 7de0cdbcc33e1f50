/**
 * The Socket Mode side of the fake Slack: WebSocket URLs handed out by `apps.connections.open`,
 * the WebSocket server behind them (on the fake's own HTTP server, via its `upgrade` event), and
 * envelope delivery with acknowledgements. FakeSlack (slack.ts) builds the payloads and keeps the
 * workspace state; this module only moves envelopes over the socket.
 *
 * What it does, following https://docs.slack.dev/apis/events-api/using-socket-mode and what
 * @slack/socket-mode 3.x (SocketModeClient.js, SlackWebSocket.js) expects:
 *
 *  - Each URL (`ws://127.0.0.1:PORT/socket-mode?ticket=…&app_id=…`) carries a single-use ticket;
 *    an unknown or used ticket gets HTTP 401 instead of the upgrade.
 *  - On connect the server sends `hello` (num_connections, debug_info, connection_info.app_id).
 *    The SDK's `start()` (and so Bolt's `app.start()`) resolves only on `hello`.
 *  - The client pings every clientPingTimeout/3 (≈1.7 s) and disconnects when a pong is more than
 *    clientPingTimeout (5 s) late: `ws` answers pings with pongs by itself (autoPong).
 *  - The server pings too (default every 10 s). The SDK arms its serverPingTimeout (30 s) at the
 *    first ping from the server and re-arms it at every ping, so pinging well inside 30 s keeps
 *    the connection up however long a test runs.
 *  - Envelopes (`events_api`, `slash_commands`, …) go to the newest open connection; the app
 *    acks with `{envelope_id, payload?}` (the SDK always sends `payload`, `{}` when empty).
 *    Slack waits 3 s for an ack; `send()` rejects after `timeoutMs` (default 3000) without one.
 *  - `disconnect(reason)` sends `{type:'disconnect', reason, debug_info}`, as Slack does before it
 *    refreshes a connection (`warning`, `refresh_requested`) or when Socket Mode is switched off
 *    (`link_disabled`). The SDK closes the socket and reconnects through apps.connections.open.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/** Slack's limit for acknowledging an envelope. */
export const SOCKET_ACK_TIMEOUT_MS = 3000;
/** How often the fake pings each connection unless told otherwise. */
export const SOCKET_PING_INTERVAL_MS = 10_000;

export interface FakeSocketModeOptions {
  /** `http://127.0.0.1:PORT` of the fake. */
  origin: string;
  appId: string;
  /** Default SOCKET_PING_INTERVAL_MS; 0 never pings. */
  pingIntervalMs?: number;
}

/** A WebSocket URL issued by apps.connections.open. */
export interface SocketTicket {
  ticket: string;
  url: string;
  issuedAt: number;
  /** Unix ms of the connection that used it. */
  usedAt?: number;
}

/** One WebSocket connection from the app, as the fake saw it. */
export interface SocketConnection {
  id: number;
  ticket: string;
  openedAt: number;
  /** Still open (the fake's view). */
  open: boolean;
  closedAt?: number;
  /** Close code the fake saw (1000: the app closed cleanly; 1006: the TCP connection just ended). */
  closeCode?: number;
  closeReason?: string;
  /** The `hello` message sent on connect. */
  hello: Record<string, unknown>;
  pingsSent: number;
  /** Pongs the app returned to the fake's pings. */
  pongsReceived: number;
  /** Pings the app sent (each answered with a pong). */
  pingsReceived: number;
  /** `disconnect` messages sent to it. */
  disconnectsSent: string[];
}

/** What the app sent back for an envelope. */
export interface SocketAck {
  envelope_id: string;
  payload?: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface SocketSendOptions {
  /** Reject when no ack arrives in time. Default 3000 (Slack's limit). */
  timeoutMs?: number;
}

/** An envelope the fake sent, and what became of it. */
export interface SocketDelivery {
  envelopeId: string;
  type: string;
  envelope: Record<string, unknown>;
  connectionId: number;
  sentAt: number;
  ack?: SocketAck;
  /** ms from sending to the ack. */
  elapsedMs?: number;
  /** The send gave up (no ack within timeoutMs, or the connection closed first). */
  failed?: string;
}

interface Pending {
  delivery: SocketDelivery;
  resolve(d: SocketDelivery): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface Live {
  info: SocketConnection;
  ws: WebSocket;
  pinger?: NodeJS.Timeout;
  closed: Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class FakeSocketMode {
  /** Every URL handed out, in order. */
  readonly tickets: SocketTicket[] = [];
  /** Every connection, in the order opened. */
  readonly connections: SocketConnection[] = [];
  /** Every envelope sent to the app. */
  readonly deliveries: SocketDelivery[] = [];
  /** Messages from the app that matched no pending envelope (late acks, garbage), raw text. */
  readonly strayMessages: string[] = [];
  /** Upgrade requests refused (bad path or ticket). */
  readonly refusedUpgrades: Array<{ url: string; status: number; at: number }> = [];

  private readonly wss = new WebSocketServer({ noServer: true, clientTracking: false });
  private readonly live = new Map<number, Live>();
  private readonly pending = new Map<string, Pending>();
  private readonly wsOrigin: string;
  private readonly appId: string;
  private readonly pingIntervalMs: number;
  private nextConnectionId = 0;
  private closed = false;

  constructor(opts: FakeSocketModeOptions) {
    this.wsOrigin = opts.origin.replace(/^http/, 'ws');
    this.appId = opts.appId;
    this.pingIntervalMs = opts.pingIntervalMs ?? SOCKET_PING_INTERVAL_MS;
  }

  /** A fresh single-use WebSocket URL (what apps.connections.open returns). */
  issueUrl(): string {
    const ticket = `${randomUUID()}-${randomBytes(6).toString('hex')}`;
    const url = `${this.wsOrigin}/socket-mode?ticket=${encodeURIComponent(ticket)}&app_id=${encodeURIComponent(this.appId)}`;
    this.tickets.push({ ticket, url, issuedAt: Date.now() });
    return url;
  }

  /** Open connections, oldest first. */
  openConnections(): SocketConnection[] {
    return [...this.live.values()].map((l) => l.info);
  }

  /**
   * @internal The HTTP server's `upgrade` handler. Returns false for paths that aren't Socket
   * Mode (the caller answers those); refuses bad tickets with 401.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/socket-mode') return false;
    const ticket = url.searchParams.get('ticket') ?? '';
    const issued = this.tickets.find((t) => t.ticket === ticket);
    if (this.closed || !issued || issued.usedAt !== undefined) {
      this.refusedUpgrades.push({ url: req.url ?? '', status: 401, at: Date.now() });
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\n\r\ninvalid_ticket');
      return true;
    }
    issued.usedAt = Date.now();
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, ticket));
    return true;
  }

  private onConnection(ws: WebSocket, ticket: string): void {
    const id = ++this.nextConnectionId;
    const hello = {
      type: 'hello',
      num_connections: this.live.size + 1,
      debug_info: {
        host: `applink-fake-${id}`,
        started: new Date().toISOString().replace('T', ' ').slice(0, 23),
        build_number: 1,
        approximate_connection_time: 18060,
      },
      connection_info: { app_id: this.appId },
    };
    const info: SocketConnection = {
      id, ticket, openedAt: Date.now(), open: true, hello,
      pingsSent: 0, pongsReceived: 0, pingsReceived: 0, disconnectsSent: [],
    };
    const closed = new Promise<void>((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        info.open = false;
        info.closedAt = Date.now();
        info.closeCode = code;
        info.closeReason = reason.toString('utf8');
        const l = this.live.get(id);
        if (l?.pinger) clearInterval(l.pinger);
        this.live.delete(id);
        for (const [envelopeId, p] of this.pending) {
          if (p.delivery.connectionId === id) this.fail(envelopeId, `the connection closed (code ${code}) before the app acked`);
        }
        resolve();
      });
    });
    const entry: Live = { info, ws, closed };
    this.connections.push(info);
    this.live.set(id, entry);
    ws.on('error', () => undefined); // a reset from the app; 'close' follows
    ws.on('ping', () => {
      info.pingsReceived += 1;
    });
    ws.on('pong', () => {
      info.pongsReceived += 1;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.send(JSON.stringify(hello));
    if (this.pingIntervalMs > 0) {
      entry.pinger = setInterval(() => {
        if (ws.readyState !== ws.OPEN) return;
        info.pingsSent += 1;
        ws.ping(Buffer.from(`ping-${info.pingsSent}`));
      }, this.pingIntervalMs);
      entry.pinger.unref();
    }
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
    let msg: unknown;
    try {
      msg = isBinary ? undefined : JSON.parse(text);
    } catch {
      msg = undefined;
    }
    const envelopeId = isRecord(msg) && typeof msg.envelope_id === 'string' ? msg.envelope_id : undefined;
    const p = envelopeId ? this.pending.get(envelopeId) : undefined;
    if (!p || !isRecord(msg)) {
      this.strayMessages.push(text);
      return;
    }
    this.pending.delete(envelopeId!);
    clearTimeout(p.timer);
    p.delivery.ack = msg as SocketAck;
    p.delivery.elapsedMs = Date.now() - p.delivery.sentAt;
    p.resolve(p.delivery);
  }

  private fail(envelopeId: string, why: string): void {
    const p = this.pending.get(envelopeId);
    if (!p) return;
    this.pending.delete(envelopeId);
    clearTimeout(p.timer);
    p.delivery.failed = why;
    p.reject(new Error(`Socket Mode envelope ${envelopeId} (${p.delivery.type}): ${why}`));
  }

  /**
   * Sends `envelope` (which must carry `envelope_id` and `type`) to the newest open connection and
   * resolves with the delivery once the app acks it.
   */
  send(envelope: Record<string, unknown>, opts: SocketSendOptions = {}): Promise<SocketDelivery> {
    const envelopeId = envelope.envelope_id;
    if (typeof envelopeId !== 'string') return Promise.reject(new Error('FakeSocketMode.send: the envelope has no envelope_id'));
    if (this.pending.has(envelopeId)) return Promise.reject(new Error(`FakeSocketMode.send: envelope ${envelopeId} is already waiting for an ack`));
    const target = [...this.live.values()].filter((l) => l.ws.readyState === l.ws.OPEN).at(-1);
    if (!target) {
      const seen = this.connections.length;
      return Promise.reject(new Error(`FakeSocketMode.send: no open Socket Mode connection (${seen} seen, all closed${seen === 0 ? '; did the app call apps.connections.open with the app token?' : ''})`));
    }
    const timeoutMs = opts.timeoutMs ?? SOCKET_ACK_TIMEOUT_MS;
    const delivery: SocketDelivery = {
      envelopeId, type: String(envelope.type), envelope, connectionId: target.info.id, sentAt: Date.now(),
    };
    this.deliveries.push(delivery);
    return new Promise<SocketDelivery>((resolve, reject) => {
      const timer = setTimeout(() => {
        const hint = delivery.type === 'events_api' ? 'Slack would retry it with retry_reason "timeout"' : 'Slack would show the user an error';
        this.fail(envelopeId, `no ack within ${timeoutMs} ms (${hint})`);
      }, timeoutMs);
      this.pending.set(envelopeId, { delivery, resolve, reject, timer });
      target.ws.send(JSON.stringify(envelope), (err) => {
        if (err) this.fail(envelopeId, `send failed: ${err.message}`);
      });
    });
  }

  /** Sends `{type:'disconnect', reason}` to every open connection (or the one given). */
  disconnect(reason = 'refresh_requested', connectionId?: number): number {
    let n = 0;
    for (const l of this.live.values()) {
      if (connectionId !== undefined && l.info.id !== connectionId) continue;
      if (l.ws.readyState !== l.ws.OPEN) continue;
      l.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: `applink-fake-${l.info.id}` } }));
      l.info.disconnectsSent.push(reason);
      n += 1;
    }
    return n;
  }

  /**
   * Resolves with the newest open connection once at least `count` connections have been opened
   * in total (default 1) and one is open.
   */
  async waitForConnection(opts: { count?: number; timeoutMs?: number } = {}): Promise<SocketConnection> {
    const count = opts.count ?? 1;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const newest = this.openConnections().at(-1);
      if (this.connections.length >= count && newest) return newest;
      if (Date.now() >= deadline) break;
      await sleep(20);
    }
    const states = this.connections.map((c) => `#${c.id} ${c.open ? 'open' : `closed ${c.closeCode ?? ''}`}`).join(', ') || 'none';
    throw new Error(`FakeSocketMode.waitForConnection timed out after ${timeoutMs} ms waiting for connection #${count} (tickets issued: ${this.tickets.length}; connections: ${states}; refused upgrades: ${this.refusedUpgrades.length})`);
  }

  /** Closes every connection (1001 going away, then terminate) and fails pending sends. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const envelopeId of [...this.pending.keys()]) this.fail(envelopeId, 'the fake was closed');
    const lives = [...this.live.values()];
    for (const l of lives) {
      if (l.pinger) clearInterval(l.pinger);
      if (l.ws.readyState === l.ws.OPEN) l.ws.close(1001, 'going away');
    }
    await Promise.race([Promise.all(lives.map((l) => l.closed)), sleep(500)]);
    for (const l of lives) l.ws.terminate();
    await Promise.all(lives.map((l) => l.closed));
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
