/**
 * Start-up: config → store → chat bot → HTTP server. `startApp` returns a handle that
 * closes everything; src/main.ts is the process entry around it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeConfig, REHEARSAL_DEFAULT_STORE_URL, type Config } from './config.js';
import { systemClock, type ChatRoom, type Clock, type Logger, type Store } from './core/ports.js';
import { auditKeys } from './core/audit.js';
import { NETWORKS } from './core/networks.js';
import { markRehearsal, RehearsalRoom } from './bots/rehearsal-room.js';
import { RehearsalWorld } from './platforms/rehearsal/world.js';
import { createRehearsalView } from './platforms/rehearsal/view.js';
import { AppealService } from './core/service.js';
import { publishKeys } from './core/publisher.js';
import { createSlackBot, createSlackWebClient, SocketModeStartError, whoAmI, type SlackBot } from './bots/slack/index.js';
import { SlackRoom, toChatError } from './bots/slack/room.js';
import { createImageProcessor } from './media/images.js';
import { createChartRenderer } from './media/chart.js';
import { createMediaProcessor } from './media/index.js';
import { scheduleReports } from './scheduler.js';
import { createVideoProcessor } from './media/video.js';
import { openStore } from './store/index.js';
import { createNetworks } from './platforms/index.js';
import { ReachPoller } from './core/reach.js';
import { DAY_MS } from './core/reach-plan.js';

export interface AppHandle {
  port: number;
  store: Store;
  service: AppealService;
  /** Rehearsal mode (REHEARSAL=1) only: the simulated public side, and where its view is. */
  rehearsal?: { world: RehearsalWorld; url: string };
  close(): Promise<void>;
}

/** How often the rehearsal's view counters are brought up to date (between reach reads). */
const REHEARSAL_REFRESH_MS = 2_000;
/** Which kind of appeals a store holds: 'live' or 'rehearsal'. */
export const STORE_MODE_KEY = 'store-mode';

/** A start-up failure an operator can fix, in one line naming what to fix. */
export class StartupError extends Error {
  readonly code = 'startup_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export async function startApp(config: Config, logger: Logger, clock: Clock = systemClock): Promise<AppHandle> {
  logger.info({ config: describeConfig(config) }, 'starting');
  if (!config.slack) throw new StartupError('SLACK_BOT_TOKEN: required, this version runs on Slack only (Discord support comes later)');

  let store: Store;
  try {
    store = await openStore(config.storeUrl, { logger });
  } catch (err) {
    throw new StartupError(`STORE_URL: could not open the store: ${(err as Error).message}`, { cause: err });
  }

  let bot: SlackBot | undefined;
  let server: Server | undefined;
  try {
    await checkStoreMode(store, config);
    const client = createSlackWebClient(config.slack, logger);
    let identity: { userId: string; botId: string; team: string };
    try {
      identity = await whoAmI(client);
    } catch (err) {
      const e = toChatError(err);
      throw new StartupError(`SLACK_BOT_TOKEN: Slack's auth.test failed: ${e.userMessage}`, { cause: err });
    }
    logger.info({ botUserId: identity.userId, team: identity.team }, 'connected to Slack');

    // Rehearsal mode: every network is simulated (the real adapters are never loaded), the
    // simulators write the public side into `world`, and everything said in the chat is marked.
    const world = config.rehearsal ? new RehearsalWorld() : undefined;
    let listeningPort = config.port;
    const rehearsalUrl = () => config.rehearsal?.publicUrl ?? `http://localhost:${listeningPort}/rehearsal`;
    const slackRoom = new SlackRoom(client, identity.userId, { logger: logger.child({ chat: 'slack' }), clock });
    const room: ChatRoom = world ? new RehearsalRoom(slackRoom, { publicUrl: rehearsalUrl }) : slackRoom;
    const networks = await createNetworks(config, logger, world ? { world, clock, publicUrl: rehearsalUrl } : {});
    // Footage: the static ffmpeg from npm strips container metadata. Without a working one,
    // images still work and footage is refused in the thread with the reason.
    const videoProcessor = createVideoProcessor({ maxBytes: config.media.videoMaxBytes, ...(config.media.ffmpegPath ? { ffmpegPath: config.media.ffmpegPath } : {}) });
    const ffmpeg = await videoProcessor.check();
    if (ffmpeg.ok) logger.info({ ffmpeg: ffmpeg.version }, 'footage: ffmpeg found');
    else logger.warn({ problem: ffmpeg.problem }, 'footage is refused: ffmpeg is not usable');
    const videos = ffmpeg.ok ? videoProcessor : undefined;
    const service = new AppealService({
      networks,
      store,
      room,
      media: createMediaProcessor({ images: createImageProcessor(), videos }),
      clock,
      logger,
      policy: config.approval,
      enabledNetworks: NETWORKS.filter((n) => networks.has(n)),
      chart: createChartRenderer(),
      timeZone: config.reports.timeZone,
    });
    bot = createSlackBot({
      config: config.slack,
      identity,
      service,
      store,
      logger,
      clock,
      media: { maxBytes: config.media.imageMaxBytes, videoMaxBytes: config.media.videoMaxBytes, downloadTimeoutMs: config.media.downloadTimeoutMs },
      ...(world ? { markReply: markRehearsal } : {}),
    });

    const handleHttp = bot.handleHttp;
    const b = bot;
    // Rehearsal mode only: the public-side view at /rehearsal (outside it, /rehearsal is a 404).
    const rehearsalView = world ? createRehearsalView(world, { clock }) : undefined;
    server = createServer((req, res) => {
      if (rehearsalView?.(req, res)) return;
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/slack/events' && handleHttp) {
        handleHttp(req, res).catch((err: unknown) => {
          logger.error({ err }, 'request failed');
          if (!res.headersSent) res.writeHead(500).end();
        });
        return;
      }
      if (path === '/healthz' && req.method === 'GET') {
        const health = b.health();
        res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(health));
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    });
    // Slack gives 3 s: no request may hold a socket for long.
    server.requestTimeout = 10_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(config.port, resolve);
    });
    try {
      await bot.start();
    } catch (err) {
      if (err instanceof SocketModeStartError) throw new StartupError(`SLACK_APP_TOKEN: ${err.message}`, { cause: err });
      throw err;
    }
    const port = (server.address() as AddressInfo).port;
    listeningPort = port;
    logger.info({ port, mode: handleHttp ? 'http' : 'socket' }, 'listening');
    if (world) logger.info({ url: rehearsalUrl() }, 'rehearsal: the public-side view');
    const refresher = world ? setInterval(() => world.refresh(), REHEARSAL_REFRESH_MS) : undefined;
    refresher?.unref();

    // Publishing that was approved but not finished (a restart, a crashed replica) resumes;
    // one replica at a time keeps the reach messages up to date.
    service.publisher.startSweeper();
    service.withdrawer.startSweeper();
    service.updater.startSweeper();
    const reach = new ReachPoller({
      store,
      room,
      networks,
      clock,
      logger,
      plan: { baseMs: config.reach.refreshSeconds * 1000, stopAfterMs: config.reach.stopAfterDays * DAY_MS },
      ...(config.reach.xReadBudget !== undefined ? { budgets: { x: config.reach.xReadBudget } } : {}),
    });
    reach.start();
    const reports = config.reports.cron && config.reports.channel
      ? scheduleReports({ cron: config.reports.cron, timeZone: config.reports.timeZone, channel: config.reports.channel, reporter: service.reporter, logger })
      : undefined;
    if (reports) logger.info({ cron: config.reports.cron, timeZone: config.reports.timeZone, channel: config.reports.channel, next: reports.next() }, 'scheduled reach reports');

    const s = server;
    return {
      port,
      store,
      service,
      ...(world ? { rehearsal: { world, url: rehearsalUrl() } } : {}),
      close: async () => {
        clearInterval(refresher);
        await b.stop().catch(() => undefined);
        await reports?.stop().catch(() => undefined);
        await reach.stop().catch(() => undefined);
        await service.publisher.stop().catch(() => undefined);
        await service.withdrawer.stop().catch(() => undefined);
        await service.updater.stop().catch(() => undefined);
        await new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeAllConnections();
        await store.close();
      },
    };
  } catch (err) {
    await bot?.stop().catch(() => undefined);
    server?.close();
    await store.close().catch(() => undefined);
    if (err instanceof Error && 'code' in err && err.code === 'EADDRINUSE') {
      throw new StartupError(`PORT: ${config.port} is already in use`, { cause: err });
    }
    throw err;
  }
}

/**
 * Rehearsals and real appeals never share a store: a rehearsed appeal left half-published
 * must not be resumed on real networks once REHEARSAL is turned off, and a rehearsal must not
 * resume, withdraw or poll real posts. The store remembers which kind it holds; a store from
 * before this mark that has an audit trail holds real appeals.
 */
async function checkStoreMode(store: Store, config: Config): Promise<void> {
  const mode = config.rehearsal ? 'rehearsal' : 'live';
  const marked = await store.get<string>(STORE_MODE_KEY);
  // Unmarked: a store from before the mark holds real appeals if it has an audit trail, or
  // any appeal publishing, live or being withdrawn (older stores had no audit trail).
  const holdsReal = marked === 'live' || (marked === undefined && (
    (await store.get(auditKeys.head)) !== undefined
    || (await Promise.all([publishKeys.pending, publishKeys.live, publishKeys.withdrawing].map((k) => store.members(k)))).some((m) => m.length > 0)
  ));
  if (mode === 'rehearsal' && holdsReal) {
    throw new StartupError(`REHEARSAL=1: the store at STORE_URL holds real appeals; a rehearsal needs a store of its own (leave STORE_URL unset to use ${REHEARSAL_DEFAULT_STORE_URL}, or point it at another one)`);
  }
  if (mode === 'live' && marked === 'rehearsal') {
    throw new StartupError('STORE_URL: this store holds a rehearsal (it was used with REHEARSAL=1); real appeals need a store of their own, so that nothing rehearsed is ever published (point STORE_URL at another store, or set REHEARSAL=1)');
  }
  if (marked === undefined) await store.set(STORE_MODE_KEY, mode);
}
