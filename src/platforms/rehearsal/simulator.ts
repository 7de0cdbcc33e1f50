/**
 * A simulated network for rehearsal mode (REHEARSAL=1): the whole Network port, in memory,
 * writing what the public would see into the RehearsalWorld (read by the public-side view).
 * It behaves like the real adapter it stands in for, and passes the same contract suite:
 *
 * - publish: media are "uploaded" one by one, then the post is created right after the
 *   fence (`req.fence`), also after a rate-limit wait; a 5xx on the post is never blindly
 *   repeated: it looks for the post by its reference first. What each network takes mirrors
 *   the real one: X up to 4 images or one video, YouTube a video, Flickr at least one image
 *   (several become an album), Facebook text with any images.
 * - findPublished: the newest live post of this network carrying the reference at its end
 *   (`carriesReference`), made at or after `since`.
 * - reach: batched (the real adapter's batch size), one call per batch; views grow with
 *   time (see `viewsAt`), computed from the time since the post went up, so they are the
 *   same whoever reads them and whenever.
 * - reply and withdraw: a comment on the post, and taking a post or a reply down
 *   (idempotent).
 *
 * One choke point (`request`) for every call: scripted rate limits are waited out (up to
 * 15 minutes) through the injected `sleep`, 5xx are backed off and repeated where that is
 * safe, permanent refusals never repeated. Scripts (`script.failNext`) are for tests;
 * `failures` (REHEARSAL_FAILURES) makes the first publish attempt of each appeal fail with
 * a NetworkError 'unavailable' (503, not permanent, nothing posted), so the room practises
 * `/appeal retry <id> <network>`, which then succeeds.
 */
import { NETWORK_LABELS, type NetworkName } from '../../core/networks.js';
import {
  NetworkError,
  systemClock,
  type Clock,
  type Logger,
  type MediaFile,
  type Network,
  type PublishedPost,
  type PublishRequest,
  type ReachCount,
} from '../../core/ports.js';
import { carriesReference } from '../reference.js';
import type { RehearsalWorld, WorldMedia, WorldPost } from './world.js';

/** What a test can script on a simulated network, by step. */
export type SimulatedOp = 'upload' | 'publish' | 'reach' | 'find' | 'withdraw' | 'reply';

/** A scripted answer to the next `op` (tests only; REHEARSAL_FAILURES is `failures`). */
export type SimulatedFailure =
  /** A 5xx (default 503). `commit`: the work was done, then the error answered. */
  | { kind: 'server'; status?: number; times?: number; commit?: boolean }
  | { kind: 'auth' }
  | { kind: 'duplicate' }
  | { kind: 'invalid' }
  /** A 429 until now + `seconds`. */
  | { kind: 'rate_limit'; seconds: number };

export interface SimulatorOptions {
  world: RehearsalWorld;
  clock?: Clock;
  /** REHEARSAL_FAILURES: when this network is listed, each appeal's first publish attempt fails. */
  failures?: readonly NetworkName[];
  /** Draws each post's growth curve (a seeded one makes a rehearsal repeatable). Default Math.random. */
  random?: () => number;
  /** The public-side view's address: links are `<publicUrl>#<network>-<postId>`. */
  publicUrl?: () => string;
  logger?: Logger;
  /** Waits (rate limits, backoff). Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Longest rate limit waited out; a longer one is a `rate_limited` error. Default 15 minutes. */
  maxRateLimitWaitMs?: number;
  /** Tries per call on a 5xx. Default 4, like the real adapters. */
  maxAttempts?: number;
}

/** A simulated network, with the handle tests script it through. */
export interface SimulatedNetwork extends Network {
  readonly simulated: true;
  readonly script: SimulatorScript;
}

export interface SimulatorScript {
  failNext(op: SimulatedOp, failure: SimulatedFailure): void;
  /** Pins a post's views (the network "now says" this many); growth no longer applies to it. */
  setViews(postId: string, views: number): void;
  /** Every call answered, in order, with its status (200, 429, 5xx, 4xx). */
  ops(): Array<{ op: SimulatedOp; status: number }>;
}

// ---------------------------------------------------------------- growth

/**
 * How a post's views grow: views(t) = ceiling · (1 − e^(−g(t)/τ)), fast at first and
 * levelling off towards `ceiling` (63 % of it after τ, 95 % after 3τ). g(t) is the time since
 * the post went up with two slow wobbles added — g(t) = t + Σ aᵢ·(sin(ωᵢt + φᵢ) − sin φᵢ) —
 * so sharing comes in bursts and lulls; each wobble's slope aᵢωᵢ is kept small (their sum
 * ≤ 0.6), so g always increases and the views never go down.
 */
export interface Growth {
  /** Views the post levels off at. */
  ceiling: number;
  /** τ in seconds. */
  tauSeconds: number;
  wobbles: Array<{ amplitude: number; omega: number; phase: number }>;
}

interface Profile {
  label: string;
  reachBatchSize: number;
  /** Ceiling range, in views. */
  ceiling: [number, number];
  /** τ range, in minutes. */
  tauMinutes: [number, number];
}

/** Per network: an X post spreads fastest and furthest, footage and photos more slowly. */
const PROFILES: Record<NetworkName, Profile> = {
  x: { label: NETWORK_LABELS.x, reachBatchSize: 100, ceiling: [15_000, 60_000], tauMinutes: [30, 90] },
  facebook: { label: NETWORK_LABELS.facebook, reachBatchSize: 50, ceiling: [8_000, 40_000], tauMinutes: [45, 120] },
  youtube: { label: NETWORK_LABELS.youtube, reachBatchSize: 50, ceiling: [2_000, 12_000], tauMinutes: [60, 180] },
  flickr: { label: NETWORK_LABELS.flickr, reachBatchSize: 1000, ceiling: [1_500, 8_000], tauMinutes: [40, 120] },
};

/** A growth curve for one post on `network`, drawn with `random`. */
export function drawGrowth(network: NetworkName, random: () => number): Growth {
  const p = PROFILES[network];
  const between = ([lo, hi]: readonly [number, number]) => lo + (hi - lo) * random();
  const wobble = (periodSeconds: [number, number], slope: [number, number]) => {
    const omega = (2 * Math.PI) / between(periodSeconds);
    return { amplitude: between(slope) / omega, omega, phase: random() * 2 * Math.PI };
  };
  return {
    ceiling: Math.round(between(p.ceiling)),
    tauSeconds: between(p.tauMinutes) * 60,
    // A slow wobble (minutes) and a quick one (about a minute); slopes 0.15–0.35 and 0.10–0.25.
    wobbles: [wobble([240, 600], [0.15, 0.35]), wobble([40, 100], [0.1, 0.25])],
  };
}

/** Views `elapsedMs` after the post went up (0 at 0, never decreasing). */
export function viewsAt(g: Growth, elapsedMs: number): number {
  const t = Math.max(0, elapsedMs) / 1000;
  let shifted = t;
  for (const w of g.wobbles) shifted += w.amplitude * (Math.sin(w.omega * t + w.phase) - Math.sin(w.phase));
  return Math.max(0, Math.floor(g.ceiling * (1 - Math.exp(-shifted / g.tauSeconds))));
}

/** A small seeded PRNG (mulberry32): the same seed gives the same rehearsal. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

// ---------------------------------------------------------------- the network

/** Points of views history kept per post; older ones are thinned out. */
const MAX_HISTORY = 500;
/** How far back a look after a 5xx goes before the attempt started. */
const LOOK_BACK_MS = 60_000;
const RATE_LIMIT_JITTER_MS = 250;
/** Calls remembered for `script.ops()` (a long rehearsal reads reach thousands of times). */
const MAX_OPS = 10_000;
const DEFAULT_PUBLIC_URL = 'https://loudhailer.invalid/rehearsal';

/** A 5xx from the (simulated) network: the caller decides whether to look, repeat or give up. */
class ServerAnswer extends Error {
  constructor(readonly status: number) {
    super(`simulated ${status}`);
  }
}

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => silent };
const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
let runs = 0;

export function createSimulatedNetwork(name: NetworkName, options: SimulatorOptions): SimulatedNetwork {
  return new Simulator(name, options);
}

class Simulator implements SimulatedNetwork {
  readonly simulated = true as const;
  readonly reachBatchSize: number;
  readonly script: SimulatorScript;

  private readonly world: RehearsalWorld;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly publicUrl: () => string;
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxRateLimitWaitMs: number;
  private readonly maxAttempts: number;
  private readonly label: string;
  private readonly failFirst: boolean;
  /** Appeals whose scripted first failure (REHEARSAL_FAILURES) has happened. */
  private readonly failedOnce = new Set<string>();
  private readonly growth = new Map<string, Growth>();
  private readonly pinned = new Map<string, number>();
  private readonly scripts = new Map<SimulatedOp, SimulatedFailure[]>();
  private readonly log: Array<{ op: SimulatedOp; status: number }> = [];
  /** Distinguishes this run's ids from an earlier run's (the store outlives the world). */
  private readonly runTag: string;
  private seq = 0;

  constructor(readonly name: NetworkName, options: SimulatorOptions) {
    const profile = PROFILES[name];
    this.label = profile.label;
    this.reachBatchSize = profile.reachBatchSize;
    this.world = options.world;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.publicUrl = options.publicUrl ?? (() => DEFAULT_PUBLIC_URL);
    this.logger = options.logger ?? silent;
    this.sleep = options.sleep ?? sleepReal;
    this.maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 15 * 60_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.failFirst = options.failures?.includes(name) ?? false;
    this.runTag = `${this.clock.now().toString(36)}${(runs++).toString(36)}`;
    this.world.onRefresh(() => this.refresh());
    this.script = {
      failNext: (op, failure) => this.scripts.set(op, [...(this.scripts.get(op) ?? []), failure]),
      setViews: (postId, views) => {
        this.pinned.set(postId, views);
        const post = this.world.get(this.name, postId);
        if (post) this.show(post, views, this.clock.now());
      },
      ops: () => [...this.log],
    };
  }

  async publish(req: PublishRequest): Promise<PublishedPost> {
    const kind = this.check(req.media);
    const log = this.logger.child({ appealId: req.appealId, hash: req.hash });
    if (this.failFirst && !this.failedOnce.has(req.appealId)) {
      this.failedOnce.add(req.appealId);
      this.record('publish', 503);
      log.warn({ network: this.name }, 'rehearsal: the first attempt fails, as REHEARSAL_FAILURES asks');
      throw new NetworkError({
        network: this.name,
        code: 'unavailable',
        status: 503,
        permanent: false,
        userMessage: `${this.label} is not answering (503 Service Unavailable), a failure scripted by REHEARSAL_FAILURES; nothing was posted`,
      });
    }
    const media: WorldMedia[] = [];
    for (const file of req.media) media.push(await this.retrying('upload', () => this.upload(file)));

    const startedAt = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request('publish', () => this.create(req, kind, media), req.fence);
      } catch (err) {
        if (!(err instanceof ServerAnswer)) throw err;
        // The post may have gone through: look for it before posting again.
        log.warn({ status: err.status, attempt }, 'the post was answered with a server error: looking for it first');
        const found = await this.retrying('find', () => this.find(req.reference, startedAt - LOOK_BACK_MS));
        if (found) return found;
        if (attempt >= this.maxAttempts) throw this.unavailable(err.status);
        await this.sleep(backoff(attempt));
      }
    }
  }

  async findPublished(reference: string, since: number): Promise<PublishedPost | undefined> {
    return this.retrying('find', () => this.find(reference, since));
  }

  async reach(postIds: readonly string[]): Promise<Map<string, ReachCount>> {
    if (postIds.length === 0) return new Map();
    if (postIds.length > this.reachBatchSize) {
      throw invalid(this.name, `${this.label} reads the reach of at most ${this.reachBatchSize} posts at a time; ${postIds.length} were asked for`);
    }
    return this.retrying('reach', () => {
      const now = this.clock.now();
      const out = new Map<string, ReachCount>();
      for (const id of postIds) {
        const post = this.world.get(this.name, id);
        if (!post || post.withdrawnAt !== undefined) continue;
        out.set(id, { count: this.bringUpToDate(post, now), kind: 'views' });
      }
      return out;
    });
  }

  async reply(parent: PublishedPost, text: string): Promise<PublishedPost> {
    const startedAt = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request('reply', () => this.createReply(parent, text));
      } catch (err) {
        if (!(err instanceof ServerAnswer)) throw err;
        const found = await this.retrying('find', () => this.findReply(parent.postId, text, startedAt - LOOK_BACK_MS));
        if (found) return found;
        if (attempt >= this.maxAttempts) throw this.unavailable(err.status);
        await this.sleep(backoff(attempt));
      }
    }
  }

  async withdraw(post: PublishedPost): Promise<void> {
    await this.retrying('withdraw', () => {
      const now = this.clock.now();
      const parentId = post.extra?.['replyTo']?.[0];
      if (parentId !== undefined) {
        const parent = this.world.get(this.name, parentId);
        const reply = parent?.replies.find((r) => r.id === post.postId);
        if (parent && reply && reply.withdrawnAt === undefined) {
          reply.withdrawnAt = now;
          this.world.changed('reply', parent);
        }
        return;
      }
      const live = this.world.get(this.name, post.postId);
      if (live && live.withdrawnAt === undefined) {
        live.withdrawnAt = now;
        this.world.changed('withdrawn', live);
      }
    });
  }

  // -------------------------------------------------------------- the world's side

  /** What the network takes, as the real one does; the kind of public post it makes. */
  private check(media: readonly MediaFile[]): WorldPost['kind'] {
    const videos = media.filter((m) => m.mime.startsWith('video/'));
    const images = media.length - videos.length;
    switch (this.name) {
      case 'x':
        if (media.length > 4) throw invalid(this.name, `X takes at most 4 images per post; this one has ${media.length}`);
        if (videos.length > 0 && media.length > 1) throw invalid(this.name, 'X takes one video per post, without images');
        return 'post';
      case 'youtube':
        if (videos.length !== 1 || images > 0) throw invalid(this.name, 'YouTube takes exactly one video per post');
        return 'video';
      case 'flickr':
        if (images === 0 || videos.length > 0) throw invalid(this.name, 'Flickr needs at least one image (and takes no video here)');
        return images > 1 ? 'album' : 'photo';
      case 'facebook':
        return 'post';
    }
  }

  private upload(file: MediaFile): WorldMedia {
    return { id: `${this.nextId()}-m`, mime: file.mime, bytes: Buffer.from(file.bytes), name: file.name };
  }

  private create(req: PublishRequest, kind: WorldPost['kind'], media: WorldMedia[]): PublishedPost {
    const now = this.clock.now();
    const postId = this.nextId();
    const post: WorldPost = {
      network: this.name,
      postId,
      url: this.link(postId),
      kind,
      ...(req.title !== undefined ? { title: req.title } : {}),
      text: req.text,
      media,
      createdAt: now,
      views: 0,
      history: [{ at: now, views: 0 }],
      replies: [],
    };
    this.growth.set(postId, drawGrowth(this.name, this.random));
    this.world.add(post);
    return toPublished(post);
  }

  private find(reference: string, since: number): PublishedPost | undefined {
    const post = this.world.posts().find((p) =>
      p.network === this.name && p.withdrawnAt === undefined && p.createdAt >= since && carriesReference(p.text, reference));
    return post ? toPublished(post) : undefined;
  }

  private createReply(parent: PublishedPost, text: string): PublishedPost {
    const post = this.world.get(this.name, parent.postId);
    if (!post || post.withdrawnAt !== undefined) {
      throw new NetworkError({ network: this.name, code: 'not_found', status: 404, permanent: true, userMessage: `the ${this.label} post being replied to is gone` });
    }
    const now = this.clock.now();
    const id = `${this.nextId()}-r`;
    post.replies.push({ id, text, at: now });
    this.world.changed('reply', post);
    return { postId: id, url: this.link(id), createdAt: now, extra: { replyTo: [post.postId] } };
  }

  private findReply(parentId: string, text: string, since: number): PublishedPost | undefined {
    const reply = this.world.get(this.name, parentId)?.replies.find((r) => r.withdrawnAt === undefined && r.text === text && r.at >= since);
    return reply ? { postId: reply.id, url: this.link(reply.id), createdAt: reply.at, extra: { replyTo: [parentId] } } : undefined;
  }

  /** Every live post of this network brought up to now (the world's `refresh`). */
  private refresh(): void {
    const now = this.clock.now();
    for (const post of this.world.posts()) {
      if (post.network === this.name && post.withdrawnAt === undefined) this.bringUpToDate(post, now);
    }
  }

  /** The post's views now (pinned by a test, else its growth curve), recorded in the world. */
  private bringUpToDate(post: WorldPost, now: number): number {
    const pinned = this.pinned.get(post.postId);
    const growth = this.growth.get(post.postId);
    const views = pinned ?? (growth ? viewsAt(growth, now - post.createdAt) : post.views);
    this.show(post, views, now);
    return views;
  }

  private show(post: WorldPost, views: number, now: number): void {
    if (views === post.views) return;
    post.views = views;
    post.history.push({ at: now, views });
    if (post.history.length > MAX_HISTORY) post.history.splice(1, post.history.length - MAX_HISTORY); // keeps the first point
    this.world.changed('views', post);
  }

  private nextId(): string {
    this.seq += 1;
    return `sim-${this.name}-${this.runTag}-${this.seq}`;
  }

  private link(id: string): string {
    return `${this.publicUrl()}#${this.name}-${id}`;
  }

  // -------------------------------------------------------------- the choke point

  /**
   * One call to the network. `before` runs before each try (the publish fence: also after
   * a rate-limit wait). A 5xx is thrown as ServerAnswer for the caller to handle.
   */
  private async request<T>(op: SimulatedOp, work: () => T | Promise<T>, before?: () => Promise<void> | void): Promise<T> {
    for (;;) {
      await before?.();
      const script = this.take(op);
      if (script?.kind === 'rate_limit') {
        this.record(op, 429);
        const waitMs = script.seconds * 1000;
        if (waitMs > this.maxRateLimitWaitMs) {
          throw new NetworkError({
            network: this.name, code: 'rate_limited', status: 429, permanent: false, retryAfterMs: waitMs,
            userMessage: `${this.label} is rate-limiting the account for another ${Math.ceil(script.seconds / 60)} minutes`,
          });
        }
        await this.sleep(waitMs + RATE_LIMIT_JITTER_MS);
        continue;
      }
      if (script?.kind === 'server') {
        if (script.commit) await work();
        const status = script.status ?? 503;
        this.record(op, status);
        throw new ServerAnswer(status);
      }
      if (script) {
        const refusal = this.refusal(script.kind);
        this.record(op, refusal.status ?? 400);
        throw refusal;
      }
      let result: T;
      try {
        result = await work();
      } catch (err) {
        this.record(op, err instanceof NetworkError ? (err.status ?? 400) : 500);
        throw err;
      }
      this.record(op, 200);
      return result;
    }
  }

  /** A call that is safe to repeat (uploads, reads, deletes): a 5xx is backed off and repeated. */
  private async retrying<T>(op: SimulatedOp, work: () => T | Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request(op, work);
      } catch (err) {
        if (!(err instanceof ServerAnswer)) throw err;
        if (attempt >= this.maxAttempts) throw this.unavailable(err.status);
        await this.sleep(backoff(attempt));
      }
    }
  }

  private take(op: SimulatedOp): SimulatedFailure | undefined {
    const queue = this.scripts.get(op);
    const next = queue?.[0];
    if (!queue || !next) return undefined;
    if (next.kind === 'server' && (next.times ?? 1) > 1) queue[0] = { ...next, times: (next.times ?? 1) - 1 };
    else queue.shift();
    return next;
  }

  private refusal(kind: 'auth' | 'duplicate' | 'invalid'): NetworkError {
    switch (kind) {
      case 'auth':
        return new NetworkError({ network: this.name, code: 'auth', status: 401, permanent: true, userMessage: `${this.label} refused the account's credentials` });
      case 'duplicate':
        return new NetworkError({ network: this.name, code: 'duplicate', status: 403, permanent: true, userMessage: `${this.label} refused the post as a duplicate of an earlier one` });
      case 'invalid':
        return invalid(this.name, `${this.label} refused the request as invalid`);
    }
  }

  private unavailable(status: number): NetworkError {
    return new NetworkError({ network: this.name, code: 'unavailable', status, permanent: false, userMessage: `${this.label} is not answering (${status}) after ${this.maxAttempts} tries` });
  }

  private record(op: SimulatedOp, status: number): void {
    this.log.push({ op, status });
    if (this.log.length > MAX_OPS) this.log.splice(0, this.log.length - MAX_OPS);
    this.logger.debug({ network: this.name, op, status, rehearsal: true }, `simulated ${this.label} ${op} - ${status}`);
  }
}

function toPublished(post: WorldPost): PublishedPost {
  return { postId: post.postId, url: post.url, createdAt: post.createdAt };
}

function invalid(network: NetworkName, userMessage: string): NetworkError {
  return new NetworkError({ network, code: 'invalid', status: 400, permanent: true, userMessage });
}

function backoff(attempt: number): number {
  return Math.min(8_000, 500 * 2 ** (attempt - 1));
}
