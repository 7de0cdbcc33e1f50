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

/** Who the bot is, from auth.test: also proves the token works before we listen. */
export async function whoAmI(client: WebClient): Promise<{ userId: string; botId: string; team: string }> {
  const res = await client.auth.test();
  return { userId: res.user_id!, botId: res.bot_id ?? '', team: res.team ?? '' };
}

export interface SlackBot {
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
  media: { maxBytes: number; downloadTimeoutMs: number };
}

export function createSlackBot(deps: SlackBotDeps): SlackBot {
  const { config, service, store, logger } = deps;
  const log = logger.child({ chat: 'slack' });
  const httpReceiver = config.appToken ? undefined : new SignedHttpReceiver({ signingSecret: config.signingSecret!, logger: log, clock: deps.clock });
  const receiver = httpReceiver ?? new SocketModeReceiver({
    appToken: config.appToken!,
    logger: boltLogger(log),
    installerOptions: { clientOptions: { slackApiUrl: config.apiUrl } },
  });
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
    const clog = log.child({ command: command.command, user: command.user_id, channel: command.channel_id });
    const reply = (m: Message) => ({ response_type: 'ephemeral' as const, text: renderMessage(m) });
    const parsed = parseCommand(fromSlackText(command.text ?? ''));
    if (parsed.kind === 'draft') {
      // Ack first: Slack allows 3 s, and posting a card is several API calls.
      await ack();
      try {
        const problem = await service.draft({ ...ctx, text: parsed.text, ...(parsed.targets ? { targets: parsed.targets } : {}) });
        if (problem) await respond(reply(problem));
      } catch (err) {
        clog.error({ err }, 'drafting failed');
        await respond(reply(msg`Something went wrong on our side while drafting; nothing was published. Try again in a moment.`)).catch(() => undefined);
      }
      return;
    }
    try {
      await ack(reply(await service.execute(parsed, ctx)));
    } catch (err) {
      clog.error({ err, kind: parsed.kind }, 'command failed');
      await ack(reply(msg`Something went wrong on our side; nothing was changed. Try again in a moment.`));
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
    const download = { botToken: config.botToken, apiUrl: config.apiUrl, maxBytes: deps.media.maxBytes, timeoutMs: deps.media.downloadTimeoutMs };
    await service.addFiles({
      channel: e.channel,
      threadTs: e.thread_ts,
      user: e.user,
      files: e.files.map((f) => ({ name: f.name ?? f.title ?? f.id ?? 'file', fetch: () => downloadSlackFile(f, download) })),
    });
  });

  app.error(async (err) => {
    log.error({ err }, 'unhandled error in a Slack listener');
  });

  return {
    ...(httpReceiver ? { handleHttp: (req: IncomingMessage, res: ServerResponse) => httpReceiver.handle(req, res) } : {}),
    start: async () => {
      await app.start();
    },
    stop: async () => {
      await app.stop();
    },
  };
}

/** Bolt's and the Web API's logger interface on top of ours. */
export function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const text = (args: unknown[]) => args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ');
  return {
    debug: (...args: unknown[]) => logger.debug({ sdk: 'slack' }, text(args)),
    info: (...args: unknown[]) => logger.debug({ sdk: 'slack' }, text(args)),
    warn: (...args: unknown[]) => logger.warn({ sdk: 'slack' }, text(args)),
    error: (...args: unknown[]) => logger.error({ sdk: 'slack' }, text(args)),
    setLevel: (l: typeof level) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
