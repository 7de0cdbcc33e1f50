/**
 * The Slack bot: Bolt wired to the appeal service. Slash commands, reactions and files in
 * appeal threads come in (over HTTP, or Socket Mode when an app token is set); everything
 * goes out through SlackRoom.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import bolt from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import { WebClient, type WebClientOptions } from '@slack/web-api';
import type { SlackConfig } from '../../config.js';
import { parseCommand } from '../../core/commands.js';
import { msg, type Message } from '../../core/messages.js';
import type { Clock, Logger, Store } from '../../core/ports.js';
import type { AppealService } from '../../core/service.js';
import { downloadSlackFile, type SlackFile } from './files.js';
import { SignedHttpReceiver } from './receiver.js';
import { toChatError } from './room.js';
import { fromSlackText, renderMessage } from './text.js';

const { App, SocketModeReceiver, LogLevel } = bolt;

/** Slack retries an event for up to about an hour; remember event ids for a day. */
const EVENT_DEDUP_MS = 24 * 60 * 60 * 1000;

export function slackClientOptions(config: SlackConfig, logger: Logger): WebClientOptions {
  return {
    slackApiUrl: config.apiUrl,
    logger: boltLogger(logger),
    timeout: 15_000,
    // Rate limits: the SDK waits out Retry-After on 429; other failures are retried a few
    // times with backoff, not for half an hour (the SDK's default) while a room waits.
    retryConfig: { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 5_000, randomize: true },
  };
}

export function createSlackWebClient(config: SlackConfig, logger: Logger): WebClient {
  return new WebClient(config.botToken, slackClientOptions(config, logger));
}

/** How long a command may run before Slack is acknowledged and the answer follows (Slack allows 3 s). */
const ACK_WITHIN_MS = 2_000;

/** Who the bot is, from auth.test: also proves the token works before we listen. */
export async function whoAmI(client: WebClient): Promise<{ userId: string; botId: string; team: string }> {
  const res = await client.auth.test();
  return { userId: res.user_id!, botId: res.bot_id ?? '', team: res.team ?? '' };
}

export interface SlackBot {
  /** Whether the bot can receive events now (Socket Mode: the WebSocket is connected). */
  health(): { ok: boolean; reason?: string };
  /** Handles POST /slack/events (HTTP mode); undefined in Socket Mode. */
  handleHttp?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface SlackBotDeps {
  config: SlackConfig;
  identity: { userId: string; botId: string };
  service: AppealService;
  store: Store;
  logger: Logger;
  clock: Clock;
  /** Download caps: images, and footage (a file Slack says is video/* or .mp4/.mov). */
  media: { maxBytes: number; videoMaxBytes?: number; downloadTimeoutMs: number };
  /** Marks every answer to a command (rehearsal mode: the same mark as the room's messages). */
  markReply?: (m: Message) => Message;
}

export function createSlackBot(deps: SlackBotDeps): SlackBot {
  const { config, service, store, logger } = deps;
  const log = logger.child({ chat: 'slack' });
  const httpReceiver = config.appToken ? undefined : new SignedHttpReceiver({ signingSecret: config.signingSecret!, logger: log, clock: deps.clock });
  const socketReceiver = config.appToken
    ? new SocketModeReceiver({
        appToken: config.appToken,
        logger: boltLogger(log),
        installerOptions: { clientOptions: slackClientOptions(config, log) },
      })
    : undefined;
  const receiver = httpReceiver ?? socketReceiver!;
  // Socket Mode: track the connection, so /healthz tells a load balancer the truth.
  let socketState = 'connecting';
  for (const state of ['connecting', 'connected', 'reconnecting', 'disconnecting', 'disconnected']) {
    socketReceiver?.client.on(state, () => {
      socketState = state;
      log.info({ state }, 'socket mode connection');
    });
  }
  const app = new App({
    token: config.botToken,
    botId: deps.identity.botId,
    botUserId: deps.identity.userId,
    receiver,
    clientOptions: slackClientOptions(config, log),
    logger: boltLogger(log),
    tokenVerificationEnabled: false,
  });

  // Slack retries an event it thinks we missed: the first delivery wins, the rest do nothing.
  app.use(async ({ body, next }) => {
    const eventId = (body as { event_id?: unknown }).event_id;
    if (typeof eventId === 'string') {
      if (!(await store.claim(`slack-event:${eventId}`, EVENT_DEDUP_MS))) {
        log.info({ eventId }, 'duplicate Slack event ignored');
        return;
      }
    }
    await next();
  });

  app.command(/.*/, async ({ command, ack, respond }) => {
    const ctx = { channel: command.channel_id, user: command.user_id };
    const clog = () => log.child({ command: command.command, user: command.user_id, channel: command.channel_id });
    const reply = (m: Message) => ({ response_type: 'ephemeral' as const, text: renderMessage(deps.markReply ? deps.markReply(m) : m) });
    const parsed = parseCommand(fromSlackText(command.text ?? ''));
    if (parsed.kind === 'draft') {
      // Ack first: Slack allows 3 s, and posting a card is several API calls.
      await ack();
      try {
        const problem = await service.draft({ ...ctx, text: parsed.text, ...(parsed.targets ? { targets: parsed.targets } : {}) });
        if (problem) await respond(reply(problem));
      } catch (err) {
        clog().error({ err }, 'drafting failed');
        await respond(reply(msg`Something went wrong on our side while drafting; nothing was published. Try again in a moment.`)).catch(() => undefined);
      }
      return;
    }
    // Slack allows 3 s for the acknowledgement: a command that takes longer (a report, an
    // audit export, a store under load) is acknowledged at 2 s and answered when done, so
    // nobody sees a timeout for something that happened, and types it again.
    const running = service.execute(parsed, ctx);
    running.catch(() => undefined); // observed below; never an unhandled rejection if the ack fails first
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), ACK_WITHIN_MS); });
    let acked = false;
    try {
      const first = await Promise.race([running, late]);
      clearTimeout(timer);
      if (first !== 'late') {
        await ack(reply(first));
        return;
      }
      await ack(reply(msg`Working on it: the answer follows here in a moment.`));
      acked = true;
      await respond(reply(await running));
    } catch (err) {
      clearTimeout(timer);
      clog().error({ err, kind: parsed.kind }, 'command failed');
      const sorry = reply(msg`Something went wrong on our side; nothing was changed. Try again in a moment.`);
      await (acked ? respond(sorry) : ack(sorry)).catch(() => undefined);
    }
  });

  const onReaction = (added: boolean) => async ({ event }: { event: { user: string; reaction: string; item: { type: string; channel?: string; ts?: string } } }) => {
    if (event.item.type !== 'message' || !event.item.channel || !event.item.ts) return;
    await service.reaction({ channel: event.item.channel, ts: event.item.ts, user: event.user, emoji: event.reaction, added });
  };
  app.event('reaction_added', onReaction(true));
  app.event('reaction_removed', onReaction(false));

  app.event('message', async ({ event }) => {
    const e = event as { subtype?: string; thread_ts?: string; channel: string; user?: string; files?: SlackFile[]; bot_id?: string };
    if (e.subtype !== 'file_share' || !e.thread_ts || !e.user || !e.files?.length || e.bot_id) return;
    // The cap is only a download limit: what the bytes are is decided by sniffing them later.
    const capFor = (f: SlackFile) =>
      deps.media.videoMaxBytes !== undefined && (/^video\//.test(f.mimetype ?? '') || /\.(mp4|mov)$/i.test(f.name ?? ''))
        ? deps.media.videoMaxBytes
        : deps.media.maxBytes;
    await service.addFiles({
      channel: e.channel,
      threadTs: e.thread_ts,
      user: e.user,
      files: e.files.map((f) => ({
        name: f.name ?? f.title ?? f.id ?? 'file',
        fetch: () => downloadSlackFile(f, { botToken: config.botToken, apiUrl: config.apiUrl, maxBytes: capFor(f), timeoutMs: deps.media.downloadTimeoutMs }),
      })),
    });
  });

  app.error(async (err) => {
    log.error({ err }, 'unhandled error in a Slack listener');
  });

  return {
    ...(httpReceiver ? { handleHttp: (req: IncomingMessage, res: ServerResponse) => httpReceiver.handle(req, res) } : {}),
    health: () => {
      if (!socketReceiver) return { ok: true };
      // The client reports a dropped socket only when it starts reconnecting: ask the socket too.
      const socket = (socketReceiver.client as unknown as { websocket?: { isActive(): boolean } }).websocket;
      if (socketState === 'connected' && socket?.isActive()) return { ok: true };
      return { ok: false, reason: `socket mode ${socketState === 'connected' ? 'disconnected' : socketState}` };
    },
    start: async () => {
      if (config.appToken) await checkAppToken(config, log);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new SocketModeStartError('no Socket Mode connection within 30 s; check that Slack is reachable')), SOCKET_START_TIMEOUT_MS);
      });
      try {
        await Promise.race([app.start(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stop: async () => {
      await app.stop();
    },
  };
}

const SOCKET_START_TIMEOUT_MS = 30_000;

/** The app-level token can't open Socket Mode connections: its variable and the fix. */
export class SocketModeStartError extends Error {
  readonly code = 'socket_mode_start_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SocketModeStartError';
  }
}

/**
 * Asks Slack for a Socket Mode URL once, before Bolt does: the SDK retries some refusals
 * (a missing connections:write scope, for one) for ever, so start-up would hang silently.
 */
async function checkAppToken(config: SlackConfig, logger: Logger): Promise<void> {
  const client = new WebClient(config.appToken, { ...slackClientOptions(config, logger), retryConfig: { retries: 1 } });
  try {
    await client.apps.connections.open({});
  } catch (err) {
    const e = toChatError(err);
    const words = e.code === 'missing_scope' ? 'the app-level token needs the connections:write scope' : e.userMessage.replace('SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN');
    throw new SocketModeStartError(`Slack refused a Socket Mode connection: ${words}`, { cause: err });
  }
}

/** Bolt's and the Web API's logger interface on top of ours. */
export function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const text = (args: unknown[]) => args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ');
  // The SDKs log several debug lines per request, some with whole payloads: build the text
  // only when debug is on (this alone is most of a request's cost otherwise).
  const debugOn = () => logger.isLevelEnabled?.('debug') ?? true;
  return {
    debug: (...args: unknown[]) => {
      if (debugOn()) logger.debug({ sdk: 'slack' }, text(args));
    },
    info: (...args: unknown[]) => {
      if (debugOn()) logger.debug({ sdk: 'slack' }, text(args));
    },
    warn: (...args: unknown[]) => logger.warn({ sdk: 'slack' }, text(args)),
    error: (...args: unknown[]) => logger.error({ sdk: 'slack' }, text(args)),
    setLevel: (l: typeof level) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
