/**
 * The Network contract: what every network adapter (X now; YouTube, Flickr, Facebook later)
 * must do, run against its real SDK and its wire-level fake. A network's test file calls
 *
 *   networkContract('x', async ({ logger, sleep }) => {
 *     const fake = await startFakeX();
 *     return {
 *       network: createX(config(fake), { logger, sleep }),
 *       fake: xControl(fake),          // a FakeNetworkControl over the network's fake
 *       secrets: [...],                // configuration values that must never leak
 *       unknownPostId: '1234567890123456789',
 *       reachKind: 'views',
 *     };
 *   });
 *
 * The suite injects `sleep` (it records each wait and returns at once, so a 30 s rate-limit
 * reset costs nothing, while the adapter's real waiting code runs) and a `logger` that keeps
 * every line (checked for secrets after each test). Adapters run with their default limits
 * (maxRateLimitWaitMs 15 min, maxAttempts ≥ 2).
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkError, type Logger, type MediaFile, type Network, type PublishRequest } from '../../src/core/ports.js';
import { plainJpeg, plainPng } from '../helpers/images.js';

/** What the suite does to a network, in the network's own terms on the fake's side. */
export type NetworkOp = 'account' | 'upload' | 'publish' | 'reach' | 'find' | 'withdraw' | 'reply';

/** A failure the fake answers the next `op` with, in the network's own wire format. */
export type ScriptedFailure =
  /** 5xx (default 503). `commit`: the network did the work, then answered the error. */
  | { kind: 'server'; status?: number; times?: number; commit?: boolean }
  /** The network's "bad credentials" (X: 401). */
  | { kind: 'auth' }
  /** The network's "you posted that already". */
  | { kind: 'duplicate' }
  /** The network's "bad request" (X: 400 invalid-request). */
  | { kind: 'invalid' };

export interface FakePost {
  id: string;
  /** The text as the network holds it. */
  text: string;
  /** The bytes of each attached image, in order. */
  media: Buffer[];
}

/** The small, generic handle on a network's fake that the contract needs. */
export interface FakeNetworkControl {
  /** Live (not withdrawn) posts, oldest first. Replies made by `reply` are not posts here. */
  publishedPosts(): FakePost[];
  /**
   * Live (not withdrawn) replies attached to the post `postId` (X: reply tweets; YouTube,
   * Flickr, Facebook: comments), oldest first: `id` is what `reply` returned as `postId`.
   */
  replies(postId: string): Array<{ id: string; text: string }>;
  setViews(postId: string, views: number): void;
  failNext(op: NetworkOp, failure: ScriptedFailure): void;
  /** The next `op` is rate-limited until now + `seconds`. */
  rateLimitNext(op: NetworkOp, seconds: number): void;
  /** Requests the fake answered (or is holding), in order, by op, with the status (0: no answer). */
  ops(): Array<{ op: NetworkOp; status: number }>;
  close(): Promise<void>;
}

export interface ContractSubject {
  network: Network;
  fake: FakeNetworkControl;
  /** Secret configuration values: never in an error, a user message or a log line. */
  secrets: string[];
  /** An id in the network's format that no post has. */
  unknownPostId: string;
  /** What `reach` counts on this network. */
  reachKind: 'views' | 'engagements';
  /**
   * What a post on this network must carry. 'none': text-only posts are fine (X, Facebook);
   * 'image' (Flickr) or 'video' (YouTube): every post in the suite gets `sampleMedia()`, and
   * the image tests run only where images are what the network takes.
   */
  needs?: 'none' | 'image' | 'video';
  /** False for a network that never refuses a post as a duplicate (Flickr). Default true. */
  refusesDuplicates?: boolean;
  /** The media each post carries when `needs` isn't 'none'. */
  sampleMedia?: () => Promise<MediaFile[]>;
}

export interface ContractContext {
  logger: Logger;
  sleep: (ms: number) => Promise<void>;
}

export interface LogLine {
  level: string;
  bindings: Record<string, unknown>;
  obj: object;
  msg?: string;
}

/** A Logger that keeps every line (pino-shaped: child bindings merge). */
export function captureLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, bindings, obj, ...(msg !== undefined ? { msg } : {}) });
  };
  return {
    lines,
    debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'),
    child: (more) => captureLogger(lines, { ...bindings, ...more }),
    isLevelEnabled: () => true,
  };
}

let refCounter = 0;
/** A fresh reference in Loudhailer's format ("Ref 7K3Q"), unique within the run. */
export function freshReference(): string {
  const alphabet = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
  let n = Date.now() * 64 + (refCounter++ % 64);
  let id = '';
  for (let i = 0; i < 6; i++) {
    id += alphabet[n % alphabet.length];
    n = Math.floor(n / alphabet.length);
  }
  return `Ref ${id}`;
}

export function request(text: string, reference: string, media: MediaFile[] = []): PublishRequest {
  const appealId = reference.replace(/^Ref /, '');
  return { appealId, hash: createHash('sha256').update(text).digest('hex'), text, media, reference };
}

export function mediaFile(bytes: Buffer, mime: string, name: string): MediaFile {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes, mime, name };
}

/** The NetworkError a promise rejects with (fails the test when it resolves or throws something else). */
export async function rejection(p: Promise<unknown>): Promise<NetworkError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(NetworkError);
    return err as NetworkError;
  }
  throw new Error('expected a NetworkError');
}

export function networkContract(name: string, setup: (ctx: ContractContext) => Promise<ContractSubject>): void {
  describe(`Network contract: ${name}`, () => {
    let subject: ContractSubject;
    let network: Network;
    let fake: FakeNetworkControl;
    let sleeps: number[];
    let logger: ReturnType<typeof captureLogger>;

    let base: MediaFile[] = [];
    /** A post as Loudhailer makes them (text ending in the reference), with the media the network needs. */
    const appeal = (words: string, ref = freshReference()) => request(`${words} Call 101.\n\n${ref}`, ref, base);
    const needs = () => subject.needs ?? 'none';
    const opsOf = (op: NetworkOp) => fake.ops().filter((o) => o.op === op);
    const since = () => Date.now() - 60_000;

    beforeEach(async () => {
      sleeps = [];
      logger = captureLogger();
      subject = await setup({ logger, sleep: async (ms) => { sleeps.push(ms); } });
      network = subject.network;
      fake = subject.fake;
      base = needs() === 'none' ? [] : ((await subject.sampleMedia?.()) ?? []);
    });
    afterEach(async () => {
      await fake.close();
      const logs = inspect(logger.lines, { depth: 8 });
      for (const secret of subject.secrets) expect(logs.includes(secret), 'a secret in the logs').toBe(false);
    });

    function expectNoSecrets(err: NetworkError): void {
      const everything = `${err.userMessage}\n${err.message}\n${inspect(err, { depth: 8 })}\n${JSON.stringify(err)}`;
      for (const secret of subject.secrets) expect(everything.includes(secret), 'a secret in the error').toBe(false);
    }

    describe('publish', () => {
      it('publishes a post (text only, or with the media the network needs), exactly as sent, and says where it is', async () => {
        const req = appeal('Witness appeal: collision on the A64 at 23:10 last night.');
        const post = await network.publish(req);
        const posts = fake.publishedPosts();
        expect(posts).toHaveLength(1);
        expect(posts[0]!.id).toBe(post.postId);
        expect(posts[0]!.text).toContain(req.reference);
        expect(posts[0]!.text).toContain('Witness appeal');
        expect(posts[0]!.media).toEqual(base.map((m) => m.bytes));
        expect(post.url).toMatch(/^https:\/\//);
        expect(post.url).toContain(post.postId);
      });

      it('publishes media: the network receives exactly those bytes, in order', async () => {
        // Two images where the network takes images; its one video where it takes video.
        const png = mediaFile(await plainPng(64, 48), 'image/png', 'still-1.png');
        const jpeg = mediaFile(await plainJpeg(48, 64), 'image/jpeg', 'still-2.jpg');
        const media = needs() === 'video' ? base : [png, jpeg];
        const req = { ...appeal('Do you recognise this van?'), media };
        const post = await network.publish(req);
        const [stored] = fake.publishedPosts();
        expect(stored!.id).toBe(post.postId);
        expect(stored!.media.map((b) => createHash('sha256').update(b).digest('hex'))).toEqual(media.map((m) => m.sha256));
      });

      it('waits out a rate limit on the post, then posts once', async () => {
        fake.rateLimitNext('publish', 30);
        const t0 = Date.now();
        const post = await network.publish(appeal('Missing: Ada, 14, last seen in Leeds.'));
        expect(fake.publishedPosts().map((p) => p.id)).toEqual([post.postId]);
        expect(opsOf('publish').map((o) => o.status)).toEqual([429, expect.any(Number)]);
        // It waited for the reset (seconds resolution, plus a little jitter), through the injected sleep.
        const waited = Math.max(...sleeps);
        expect(waited).toBeGreaterThanOrEqual(28_000);
        expect(waited).toBeLessThanOrEqual(30_000 + 3_000);
        expect(Date.now() - t0).toBeLessThan(5_000);
      });

      it('gives up on a rate limit that lasts too long: rate_limited, with when to try again', async () => {
        fake.rateLimitNext('publish', 3_600);
        const err = await rejection(network.publish(appeal('Appeal after a burglary.')));
        expect(err.code).toBe('rate_limited');
        expect(err.permanent).toBe(false);
        expect(err.retryAfterMs).toBeGreaterThan(3_500_000);
        expect(err.retryAfterMs).toBeLessThanOrEqual(3_601_000);
        expect(fake.publishedPosts()).toHaveLength(0);
      });

      it('5xx on the post, which did not go through: looks first, then posts once', async () => {
        fake.failNext('publish', { kind: 'server', status: 503 });
        const post = await network.publish(appeal('Appeal: assault on the towpath.'));
        expect(fake.publishedPosts().map((p) => p.id)).toEqual([post.postId]);
        const ops = fake.ops().map((o) => o.op).filter((op) => op === 'publish' || op === 'find');
        expect(ops).toEqual(['publish', 'find', 'publish']);
      });

      it('5xx on the post, which did go through: finds it and does not post again', async () => {
        fake.failNext('publish', { kind: 'server', status: 500, commit: true });
        const post = await network.publish(appeal('Have you seen this bicycle?'));
        expect(fake.publishedPosts().map((p) => p.id)).toEqual([post.postId]);
        expect(opsOf('publish')).toHaveLength(1);
        expect(opsOf('find').length).toBeGreaterThanOrEqual(1);
      });

      it('5xx while uploading media: repeats (or resumes) that step, posts once with the right bytes', async () => {
        const png = mediaFile(await plainPng(32, 32), 'image/png', 'still.png');
        const media = needs() === 'video' ? base : [png];
        fake.failNext('upload', { kind: 'server', status: 503 });
        const post = await network.publish({ ...appeal('Stolen car seen in Bradford.'), media });
        const [stored] = fake.publishedPosts();
        expect(stored!.id).toBe(post.postId);
        expect(stored!.media.map((b) => createHash('sha256').update(b).digest('hex'))).toEqual(media.map((m) => m.sha256));
        expect(sleeps.length).toBeGreaterThanOrEqual(1);
      });

      it('a duplicate is a permanent NetworkError "duplicate" (where the network refuses duplicates)', async () => {
        if (subject.refusesDuplicates === false) {
          // This network takes the same content twice: not posting twice is the publisher's
          // job (leases, attempt markers), so the adapter must not pretend otherwise.
          const req = appeal('Same words again.');
          const first = await network.publish(req);
          const second = await network.publish(req);
          expect(second.postId).not.toBe(first.postId);
          expect(fake.publishedPosts()).toHaveLength(2);
          return;
        }
        fake.failNext('publish', { kind: 'duplicate' });
        const err = await rejection(network.publish(appeal('Same words again.')));
        expect(err.code).toBe('duplicate');
        expect(err.permanent).toBe(true);
        expect(err.network).toBe(network.name);
        expect(err.userMessage.length).toBeGreaterThan(10);
        expect(opsOf('publish')).toHaveLength(1);
        expect(fake.publishedPosts()).toHaveLength(0);
      });

      it('bad credentials: a permanent "auth" error in plain words, no secret in it, not retried', async () => {
        fake.failNext('publish', { kind: 'auth' });
        const err = await rejection(network.publish(appeal('Appeal for dashcam footage.')));
        expect(err.code).toBe('auth');
        expect(err.permanent).toBe(true);
        expect(err.ambiguous).toBe(false);
        expectNoSecrets(err);
        expect(opsOf('publish')).toHaveLength(1);
      });

      it('never repeats a permanent 4xx', async () => {
        fake.failNext('publish', { kind: 'invalid' });
        const err = await rejection(network.publish(appeal('An appeal the network refuses.')));
        expect(err.code).toBe('invalid');
        expect(err.permanent).toBe(true);
        expect(opsOf('publish')).toHaveLength(1);
        expect(opsOf('find')).toHaveLength(0);
        expect(fake.publishedPosts()).toHaveLength(0);
      });
    });

    describe('reach', () => {
      it('reads several posts in one call', async () => {
        const ids: string[] = [];
        for (const words of ['First appeal.', 'Second appeal.', 'Third appeal.']) ids.push((await network.publish(appeal(words))).postId);
        ids.forEach((id, i) => fake.setViews(id, (i + 1) * 100));
        const before = opsOf('reach').length;
        const reach = await network.reach(ids);
        expect(opsOf('reach').length - before).toBe(1);
        expect([...reach.entries()]).toEqual(ids.map((id, i) => [id, { count: (i + 1) * 100, kind: subject.reachKind }]));
        expect(network.reachBatchSize).toBeGreaterThanOrEqual(1);
      });

      it('leaves out posts the network does not have (unknown, withdrawn)', async () => {
        const kept = await network.publish(appeal('Kept appeal.'));
        const gone = await network.publish(appeal('Withdrawn appeal.'));
        await network.withdraw(gone);
        const reach = await network.reach([kept.postId, gone.postId, subject.unknownPostId]);
        expect([...reach.keys()]).toEqual([kept.postId]);
        expect(await network.reach([])).toEqual(new Map());
      });

      it('backs off and repeats a read after a 5xx', async () => {
        const post = await network.publish(appeal('Appeal with flaky reads.'));
        fake.setViews(post.postId, 7);
        fake.failNext('reach', { kind: 'server', status: 502 });
        const reach = await network.reach([post.postId]);
        expect(reach.get(post.postId)?.count).toBe(7);
        expect(opsOf('reach').map((o) => o.status)).toEqual([502, 200]);
        expect(sleeps.length).toBeGreaterThanOrEqual(1);
      });
    });

    describe('withdraw', () => {
      it('deletes the post; withdrawing it again is a no-op', async () => {
        const post = await network.publish(appeal('Appeal to withdraw.'));
        await network.withdraw(post);
        expect(fake.publishedPosts()).toHaveLength(0);
        await network.withdraw(post);
        expect(fake.publishedPosts()).toHaveLength(0);
      });
    });

    describe('reply', () => {
      const thanks = (ref: string) => `Update: found safe \u2014 thank you for sharing. ${ref}`;

      it('replies to a published post: the network holds that text attached to that post', async () => {
        const parentReq = appeal('Missing: Sam, 15, last seen in Otley.');
        const parent = await network.publish(parentReq);
        const text = thanks(parentReq.reference);
        const reply = await network.reply(parent, text);
        expect(reply.postId).not.toBe(parent.postId);
        expect(reply.extra?.['replyTo']).toEqual([parent.postId]);
        expect(reply.url).toMatch(/^https:\/\//);
        expect(fake.replies(parent.postId)).toEqual([{ id: reply.postId, text }]);
        // A reply is not a post of its own.
        expect(fake.publishedPosts().map((p) => p.id)).toEqual([parent.postId]);
        expect(opsOf('reply')).toHaveLength(1);
        // The reply carries the reference too: recovery still finds the post, never the reply.
        expect((await network.findPublished(parentReq.reference, since()))?.postId).toBe(parent.postId);
      });

      it('withdraws a reply (the post stays); withdrawing it again is a no-op', async () => {
        const parentReq = appeal('Appeal to follow up.');
        const parent = await network.publish(parentReq);
        const reply = await network.reply(parent, thanks(parentReq.reference));
        await network.withdraw(reply);
        expect(fake.replies(parent.postId)).toEqual([]);
        expect(fake.publishedPosts().map((p) => p.id)).toEqual([parent.postId]);
        await network.withdraw(reply);
        expect(fake.replies(parent.postId)).toEqual([]);
        expect(fake.publishedPosts().map((p) => p.id)).toEqual([parent.postId]);
      });

      it('a permanent refusal ("invalid", "auth") is a permanent NetworkError, not repeated, no secret in it', async () => {
        const parentReq = appeal('Appeal whose follow-up is refused.');
        const parent = await network.publish(parentReq);
        for (const [kind, code] of [['invalid', 'invalid'], ['auth', 'auth']] as const) {
          const before = opsOf('reply').length;
          fake.failNext('reply', { kind });
          const err = await rejection(network.reply(parent, thanks(parentReq.reference)));
          expect(err.code).toBe(code);
          expect(err.permanent).toBe(true);
          expect(err.ambiguous).toBe(false);
          expectNoSecrets(err);
          expect(opsOf('reply').length - before).toBe(1);
        }
        expect(fake.replies(parent.postId)).toEqual([]);
      });

      it('5xx on the reply, which did go through: never replies twice (finds it, or throws ambiguous)', async () => {
        const parentReq = appeal('Appeal with a flaky follow-up.');
        const parent = await network.publish(parentReq);
        const text = thanks(parentReq.reference);
        fake.failNext('reply', { kind: 'server', status: 500, commit: true });
        let result: { postId: string } | NetworkError;
        try {
          result = await network.reply(parent, text);
        } catch (err) {
          expect(err).toBeInstanceOf(NetworkError);
          result = err as NetworkError;
        }
        expect(opsOf('reply')).toHaveLength(1);
        const held = fake.replies(parent.postId);
        expect(held.map((r) => r.text)).toEqual([text]);
        if (result instanceof NetworkError) {
          expect(result.ambiguous).toBe(true);
          expect(result.permanent).toBe(false);
          expectNoSecrets(result);
        } else {
          expect(result.postId).toBe(held[0]!.id);
        }
      });
    });

    describe('findPublished', () => {
      it('finds our post by its reference as a whole word, never by a longer one', async () => {
        const ref = freshReference();
        const longer = await network.publish(request(`An appeal, not ours.\n\n${ref}X`, `${ref}X`, base));
        const other = freshReference();
        const mention = await network.publish(request(`Further to ${ref}: he was found safe.\n\n${other}`, other, base));
        expect(await network.findPublished(ref, since())).toBeUndefined();
        const ours = await network.publish(appeal('Our appeal.', ref));
        const found = await network.findPublished(ref, since());
        expect(found?.postId).toBe(ours.postId);
        expect(found?.postId).not.toBe(longer.postId);
        expect(found?.postId).not.toBe(mention.postId);
        expect(found?.url).toContain(ours.postId);
      });

      it('only looks at posts made at or after `since`', async () => {
        const req = appeal('An older appeal.');
        await network.publish(req);
        expect(await network.findPublished(req.reference, Date.now() + 5_000)).toBeUndefined();
      });

      it('finds nothing for a reference nobody used', async () => {
        await network.publish(appeal('Some other appeal.'));
        expect(await network.findPublished(freshReference(), since())).toBeUndefined();
      });
    });
  });
}
