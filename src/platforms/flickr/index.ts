/**
 * Flickr as a `Network`, on flickr-sdk 7 with OAuth 1.0a (a token with write and delete
 * permission). Every call goes through one choke point (call.ts).
 *
 *   const flickr = createFlickr(config.networks.flickr, { logger });
 *   const post = await flickr.publish({ appealId, hash, text, title, media, reference });
 *
 * - A post needs at least one image. Each image is uploaded public (`is_public=1`) with the
 *   appeal's title, the text as the description and the tags "police appeal <ref>". Flickr
 *   has no separate "post" step: the first upload makes the appeal public, so `fence` is
 *   checked right before it (on every attempt, also after a rate-limit wait).
 * - One image: the post is the photo (postId = photo id,
 *   https://www.flickr.com/photos/<nsid>/<id>). Several: the photos go into a new album
 *   (photoset, the first as its cover) and the post is the album: postId = "set:<id>",
 *   https://www.flickr.com/photos/<nsid>/albums/<id>. `extra` = { photos, photoset? }.
 * - An upload or album whose answer is lost is never blindly repeated: the adapter first
 *   looks among the account's recent photos (albums) for the reference.
 * - reach: views. Photos in one `flickr.people.getPhotos extras=views` call (500 a page,
 *   newest first); each album one `flickr.photosets.getPhotos extras=views` call (the sum of
 *   its photos' views). With Flickr's 3600 calls an hour per key, 50 posts a batch.
 * - reply: a comment (`flickr.photos.comments.addComment`, write permission) on the post's
 *   first photo: the photo itself, or the album's first (its cover). postId = the comment id,
 *   url = the comment's permalink (the photo page when Flickr does not say it),
 *   extra = { replyTo: [parent postId], photo: [photo id] }. A comment whose answer is lost is
 *   not posted again: NetworkError `ambiguous`.
 * - withdraw: deletes the album and its photos; a reply (`extra.replyTo`) is deleted with
 *   `flickr.photos.comments.deleteComment`. What is already gone counts as done.
 */
import { createFlickr as createFlickrSdk } from 'flickr-sdk';
import type { FlickrConfig } from '../../config.js';
import { NetworkError, type Logger, type MediaFile, type Network, type PublishedPost, type PublishRequest, type ReachCount } from '../../core/ports.js';
import { carriesReference } from '../reference.js';
import { createCall, FlickrTransport, type Call, type CallOptions } from './call.js';

export interface FlickrDeps {
  logger: Logger;
  /** Waits for rate limits, back-off and recovery. Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
  /** Longest a call waits, in total, for Flickr's rate limit before it throws 'rate_limited'. Default 15 min. */
  maxRateLimitWaitMs?: number;
  /** Tries of an idempotent call on 5xx or network errors, and of an upload whose fate was
   * unknown and which recovery did not find. Default 4. */
  maxAttempts?: number;
  /** Per request: an answer that goes quiet this long counts as a network error. Default 60 s (uploads are big). */
  timeoutMs?: number;
}

/** Recovery looks this much before the publish began (clock skew between us and Flickr). */
const RECOVERY_SLACK_MS = 5 * 60_000;
/** Pages (of 500) of the account's photos read when looking for a post, or for reach. */
const FIND_MAX_PAGES = 4;
/** Pages of the account's newest photos (500 each) walked to find the live ones. */
const REACH_MAX_PAGES = 10;
const PER_PAGE = 500;
const PHOTO_RE = /^[0-9]{1,20}$/;
const SET_RE = /^set:([0-9]{1,24})$/;
const SET_PREFIX = 'set:';
/** Flickr's comment ids: "6065-109722179-72057594077818641". */
const COMMENT_RE = /^[0-9]{1,24}(?:-[0-9]{1,24}){0,3}$/;

interface Account { nsid: string }
interface ListedPhoto { id: string; dateupload?: string; views?: string; tags?: string; description?: { _content?: string } }
interface PhotoPage { photos?: { page?: number | string; pages?: number | string; photo?: ListedPhoto[] } }
interface ListedSet { id: string; primary?: string; date_create?: string; photos?: number | string; description?: { _content?: string } }

type Rest = (method: string, params: Record<string, string>) => Promise<unknown>;
type Upload = (file: Blob, params: Record<string, string>) => Promise<{ id: string }>;

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createFlickr(config: FlickrConfig, deps: FlickrDeps): Network {
  return new FlickrNetwork(config, deps);
}

class FlickrNetwork implements Network {
  readonly name = 'flickr' as const;
  /**
   * Single photos are read by walking the account's newest photos, 500 a page, once for the
   * whole batch: the bigger the batch, the fewer walks (1,000 live photos: 2 calls). Each
   * album is one call.
   */
  readonly reachBatchSize = 1000;

  private readonly rest: Rest;
  private readonly uploadFile: Upload;
  private readonly call: Call;
  private readonly logger: Logger;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private account?: Promise<Account>;

  constructor(config: FlickrConfig, deps: FlickrDeps) {
    this.logger = deps.logger;
    this.sleep = deps.sleep ?? sleepReal;
    this.now = deps.now ?? Date.now;
    this.maxAttempts = Math.max(1, deps.maxAttempts ?? 4);
    const transport = new FlickrTransport({ apiUrl: config.apiUrl, uploadUrl: config.uploadUrl, logger: this.logger, timeoutMs: deps.timeoutMs ?? 60_000 });
    const sdk = createFlickrSdk({ consumerKey: config.apiKey, consumerSecret: config.apiSecret, oauthToken: config.oauthToken, oauthTokenSecret: config.oauthSecret }, transport);
    this.rest = sdk.flickr as unknown as Rest;
    this.uploadFile = sdk.upload as unknown as Upload;
    this.call = createCall({ logger: this.logger, sleep: this.sleep, now: this.now, maxRateLimitWaitMs: deps.maxRateLimitWaitMs ?? 15 * 60_000, maxAttempts: this.maxAttempts });
  }

  async publish(req: PublishRequest): Promise<PublishedPost> {
    const startedAt = this.now();
    const log = this.logger.child({ appealId: req.appealId, hash: req.hash });
    if (req.media.length === 0) throw invalid('Flickr needs at least one image');
    for (const m of req.media) {
      if (!/^image\/(jpeg|png|gif)$/.test(m.mime)) throw invalid(`"${m.name}" is not an image Flickr takes (JPEG, PNG or GIF)`);
    }
    const { nsid } = await this.me(); // bad credentials stop here, before anything is public
    const title = req.title?.trim() || firstLine(req.text);
    // `lhn<N>`: how many photos the post has, so a half-finished attempt is never taken for the post.
    const params = { title, description: req.text, tags: `police appeal ${tagOf(req.reference)} lhn${req.media.length}`, is_public: '1', is_friend: '0', is_family: '0', safety_level: '1', content_type: '1' };

    const photos: string[] = [];
    try {
      for (const [i, file] of req.media.entries()) {
        photos.push(await this.upload(file, params, i === 0 ? req.fence : undefined, photos, req.reference, startedAt, log));
      }
    } catch (err) {
      if (photos.length > 0) await this.cleanUp(err, photos, undefined, log);
      throw err;
    }
    if (photos.length === 1) {
      log.info({ postId: photos[0] }, 'Flickr: published a photo');
      return { postId: photos[0]!, url: photoUrl(nsid, photos[0]!), extra: { photos } };
    }

    let setId: string | undefined;
    try {
      setId = await this.createAlbum(title, req.text, photos, req.reference, log);
      for (const photo of photos.slice(1)) {
        await this.call('flickr.photosets.addPhoto', () => this.rest('flickr.photosets.addPhoto', { photoset_id: setId!, photo_id: photo }), {
          idempotent: true, what: 'album changes',
          codes: { 3: { code: 'duplicate', userMessage: 'the photo is already in the album' } },
        }).catch((err: unknown) => {
          if (!(err instanceof NetworkError && err.code === 'duplicate')) throw err; // a repeat that had worked
        });
      }
    } catch (err) {
      await this.cleanUp(err, photos, setId, log);
      throw err;
    }
    log.info({ postId: `${SET_PREFIX}${setId}`, photos: photos.length }, 'Flickr: published an album');
    return { postId: `${SET_PREFIX}${setId}`, url: albumUrl(nsid, setId), extra: { photos, photoset: [setId] } };
  }

  /**
   * Our post for `reference`: a single photo where the appeal had one image, else its album,
   * and only when complete (the `lhn<N>` tag says how many photos it needs). Photos of an
   * attempt that stopped half-way are not a post: it is published again (whole).
   */
  async findPublished(reference: string, since: number): Promise<PublishedPost | undefined> {
    const matches = await this.photosCarrying(reference, since);
    if (matches.length === 0) return undefined;
    const { nsid } = await this.me();
    const ids = matches.map((p) => p.id);
    const expected = Math.max(0, ...matches.map((p) => Number(/(?:^|\s)lhn(\d+)(?:\s|$)/.exec(p.tags ?? '')?.[1] ?? 0)));
    if (expected > 1 || (expected === 0 && matches.length > 1)) {
      const set = await this.albumCarrying(reference, ids);
      if (set && (expected === 0 || Number(set.photos ?? 0) >= expected)) {
        const createdAt = Number(set.date_create) * 1000;
        return { postId: `${SET_PREFIX}${set.id}`, url: albumUrl(nsid, set.id), ...(createdAt > 0 ? { createdAt } : {}), extra: { photos: ids, photoset: [set.id] } };
      }
      if (expected > 1) return undefined; // half-finished: not a post
    }
    const first = matches[0]!;
    const createdAt = Number(first.dateupload) * 1000;
    return { postId: first.id, url: photoUrl(nsid, first.id), ...(createdAt > 0 ? { createdAt } : {}), extra: { photos: ids } };
  }

  async reach(postIds: readonly string[]): Promise<Map<string, ReachCount>> {
    if (postIds.length > this.reachBatchSize) {
      throw invalid(`Flickr reads the reach of at most ${this.reachBatchSize} posts at a time; ${postIds.length} were asked for`);
    }
    const out = new Map<string, ReachCount>();
    const photoIds = new Set(postIds.filter((id) => PHOTO_RE.test(id)));
    const setIds = [...new Set(postIds.flatMap((id) => SET_RE.exec(id)?.[1] ?? []))];

    if (photoIds.size > 0) {
      const oldest = [...photoIds].reduce((a, b) => (BigInt(a) < BigInt(b) ? a : b));
      for (let page = 1; page <= REACH_MAX_PAGES; page++) {
        const res = await this.call('flickr.people.getPhotos', () => this.rest('flickr.people.getPhotos', {
          user_id: 'me', extras: 'views', per_page: String(PER_PAGE), page: String(page),
        }), { idempotent: true, what: 'reach lookups' }) as PhotoPage;
        const list = res.photos?.photo ?? [];
        for (const p of list) if (photoIds.has(p.id)) out.set(p.id, { count: toCount(p.views), kind: 'views' });
        const done = [...photoIds].every((id) => out.has(id));
        // Newest first, and Flickr's ids grow with time: past the oldest wanted id, stop.
        const passed = list.some((p) => PHOTO_RE.test(p.id) && BigInt(p.id) < BigInt(oldest));
        if (done || passed || list.length < PER_PAGE || page >= Number(res.photos?.pages ?? 1)) break;
      }
    }
    if (setIds.length > 0) {
      const { nsid } = await this.me();
      for (const setId of setIds) {
        try {
          const res = await this.call('flickr.photosets.getPhotos', () => this.rest('flickr.photosets.getPhotos', {
            photoset_id: setId, user_id: nsid, extras: 'views', per_page: String(PER_PAGE),
          }), { idempotent: true, what: 'reach lookups' }) as { photoset?: { photo?: ListedPhoto[] } };
          const count = (res.photoset?.photo ?? []).reduce((sum, p) => sum + toCount(p.views), 0);
          out.set(`${SET_PREFIX}${setId}`, { count, kind: 'views' });
        } catch (err) {
          if (!(err instanceof NetworkError && err.code === 'not_found')) throw err;
        }
      }
    }
    return new Map(postIds.flatMap((id) => (out.has(id) ? [[id, out.get(id)!] as const] : [])));
  }

  async reply(parent: PublishedPost, text: string): Promise<PublishedPost> {
    if (text.trim() === '') throw invalid('The follow-up has no text');
    const log = this.logger.child({ replyTo: parent.postId });
    const photoId = await this.firstPhotoOf(parent);
    const { nsid } = await this.me(); // before the write: nothing after it may fail but the answer
    const res = await this.call('flickr.photos.comments.addComment', () => this.rest('flickr.photos.comments.addComment', { photo_id: photoId, comment_text: text }), {
      idempotent: false, what: 'comments',
      codes: {
        1: { code: 'not_found', userMessage: 'the appeal\'s photo is no longer on Flickr, so the follow-up could not be added' },
        8: { code: 'invalid', userMessage: 'Flickr refused the follow-up as a blank comment' },
        9: { code: 'rate_limited', userMessage: 'Flickr says the account is posting comments too fast; try again in a while', permanent: false },
      },
    }) as { comment?: { id?: unknown; permalink?: unknown } };
    const id = res.comment?.id;
    if (typeof id !== 'string' || !COMMENT_RE.test(id)) {
      throw ambiguous('Flickr accepted the comment but did not say its id; look at the photo before trying again', undefined, undefined);
    }
    log.info({ postId: id, photo: photoId }, 'Flickr: commented');
    return { postId: id, url: flickrLink(res.comment?.permalink) ?? photoUrl(nsid, photoId), extra: { replyTo: [parent.postId], photo: [photoId] } };
  }

  async withdraw(post: PublishedPost): Promise<void> {
    if (post.extra?.replyTo) {
      if (!COMMENT_RE.test(post.postId)) throw invalid(`"${post.postId}" is not a Flickr comment id`);
      const done = await this.quietlyGone(this.call('flickr.photos.comments.deleteComment', () => this.rest('flickr.photos.comments.deleteComment', { comment_id: post.postId }), {
        idempotent: true, what: 'deletions',
        codes: {
          1: { code: 'not_found', userMessage: 'the photo the comment was on is no longer on Flickr' },
          2: { code: 'not_found', userMessage: 'Flickr has no such comment (it may have been deleted)' },
        },
      }));
      if (done === undefined) this.logger.info({ postId: post.postId }, 'Flickr: the comment was already gone');
      return;
    }
    const setId = SET_RE.exec(post.postId)?.[1] ?? post.extra?.photoset?.[0];
    if (!setId && !PHOTO_RE.test(post.postId)) throw invalid(`"${post.postId}" is not a Flickr photo or album id`);
    let photos = (post.extra?.photos ?? []).filter((id) => PHOTO_RE.test(id));
    if (PHOTO_RE.test(post.postId) && !photos.includes(post.postId)) photos = [post.postId, ...photos];
    if (setId && photos.length === 0) {
      const { nsid } = await this.me();
      const res = await this.quietlyGone(this.call('flickr.photosets.getPhotos', () => this.rest('flickr.photosets.getPhotos', {
        photoset_id: setId, user_id: nsid, per_page: String(PER_PAGE),
      }), { idempotent: true, what: 'deletions' })) as { photoset?: { photo?: ListedPhoto[] } } | undefined;
      photos = (res?.photoset?.photo ?? []).map((p) => p.id);
    }
    if (setId) {
      await this.quietlyGone(this.call('flickr.photosets.delete', () => this.rest('flickr.photosets.delete', { photoset_id: setId }), { idempotent: true, what: 'deletions' }));
    }
    for (const photo of photos) {
      await this.quietlyGone(this.call('flickr.photos.delete', () => this.rest('flickr.photos.delete', { photo_id: photo }), { idempotent: true, what: 'deletions' }));
    }
    this.logger.info({ postId: post.postId, photos: photos.length }, 'Flickr: withdrawn');
  }

  // ----- steps --------------------------------------------------------------------------------

  /** Uploads one image; a lost answer → looks for it (a photo carrying the reference we don't know yet) before uploading again. */
  private async upload(file: MediaFile, params: Record<string, string>, fence: (() => Promise<void> | void) | undefined, known: string[], reference: string, startedAt: number, log: Logger): Promise<string> {
    const blob = new File([file.bytes], file.name, { type: file.mime });
    const opts: CallOptions = {
      idempotent: false, what: 'uploads',
      codes: {
        2: { code: 'invalid', userMessage: 'Flickr received no photo' },
        3: { code: 'unavailable', userMessage: 'Flickr had a general upload failure; try again later', permanent: false },
        4: { code: 'invalid', userMessage: `Flickr says "${file.name}" is empty` },
        5: { code: 'invalid', userMessage: `Flickr did not recognise "${file.name}" as an image` },
        6: { code: 'forbidden', userMessage: 'the Flickr account has reached its upload limit' },
        8: { code: 'invalid', userMessage: `"${file.name}" is too large for Flickr` },
        10: { code: 'forbidden', userMessage: 'the Flickr account has reached its maximum number of photos' },
      },
    };
    for (let attempt = 1; ; attempt++) {
      let failure: NetworkError;
      try {
        const res = await this.call('upload', async () => {
          await fence?.(); // after any rate-limit wait: a worker that lost its lease (or a withdrawn appeal) makes nothing public
          return this.uploadFile(blob, params);
        }, opts);
        if (PHOTO_RE.test(res.id)) return res.id;
        failure = new NetworkError({ network: 'flickr', code: 'unknown', permanent: false, ambiguous: true, userMessage: 'Flickr accepted the upload but did not say the photo id' });
      } catch (err) {
        if (!(err instanceof NetworkError) || !err.ambiguous) throw err;
        failure = err;
      }
      log.warn({ attempt, error: failure.message }, 'Flickr: the upload may or may not have happened; looking before uploading again');
      await this.sleep(Math.min(30_000, 2_000 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 4));
      let found: ListedPhoto | undefined;
      try {
        found = (await this.photosCarrying(reference, startedAt - RECOVERY_SLACK_MS)).find((p) => !known.includes(p.id));
      } catch (findErr) {
        throw ambiguous(`${failure.userMessage}; checking the account failed too, so look at the Flickr account before trying again`, findErr, failure.status);
      }
      if (found) {
        log.info({ photoId: found.id }, 'Flickr: found the photo the lost answer was about');
        return found.id;
      }
      if (attempt >= this.maxAttempts) {
        throw ambiguous(`Flickr did not confirm the upload after ${attempt} tries and it is not on the account yet; look at the Flickr account before trying again`, failure, failure.status);
      }
    }
  }

  /** Creates the album; a lost answer → looks for it among the account's albums before creating it again. */
  private async createAlbum(title: string, description: string, photos: string[], reference: string, log: Logger): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      let failure: NetworkError;
      try {
        const res = await this.call('flickr.photosets.create', () => this.rest('flickr.photosets.create', { title, description, primary_photo_id: photos[0]! }), {
          idempotent: false, what: 'album creation',
          codes: {
            1: { code: 'invalid', userMessage: 'Flickr needs a title for the album' },
            2: { code: 'not_found', userMessage: 'Flickr lost the first photo before the album was made', permanent: false },
            3: { code: 'forbidden', userMessage: 'the Flickr account cannot create any more albums' },
          },
        }) as { photoset?: { id?: string } };
        const id = res.photoset?.id;
        if (id && /^[0-9]{1,24}$/.test(id)) return id;
        failure = ambiguous('Flickr accepted the album but did not say its id', undefined, undefined);
      } catch (err) {
        if (!(err instanceof NetworkError) || !err.ambiguous) throw err;
        failure = err;
      }
      log.warn({ attempt, error: failure.message }, 'Flickr: the album may or may not exist; looking before creating it again');
      await this.sleep(Math.min(30_000, 2_000 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 4));
      let found: ListedSet | undefined;
      try {
        found = await this.albumCarrying(reference, photos);
      } catch (findErr) {
        throw ambiguous(`${failure.userMessage}; checking the account failed too, so look at the Flickr account before trying again`, findErr, failure.status);
      }
      if (found) return found.id;
      if (attempt >= this.maxAttempts) {
        throw ambiguous(`Flickr did not confirm the album after ${attempt} tries; look at the Flickr account before trying again`, failure, failure.status);
      }
    }
  }

  /** The photo a reply goes on: the post's photo, or its album's first photo (the cover). */
  private async firstPhotoOf(parent: PublishedPost): Promise<string> {
    if (PHOTO_RE.test(parent.postId)) return parent.postId;
    const setId = SET_RE.exec(parent.postId)?.[1];
    if (!setId) throw invalid(`"${parent.postId}" is not a Flickr photo or album id`);
    const known = parent.extra?.photos?.find((id) => PHOTO_RE.test(id));
    if (known) return known;
    const { nsid } = await this.me();
    const res = await this.call('flickr.photosets.getPhotos', () => this.rest('flickr.photosets.getPhotos', {
      photoset_id: setId, user_id: nsid, per_page: '1',
    }), {
      idempotent: true, what: 'album reads',
      codes: { 1: { code: 'not_found', userMessage: 'the appeal\'s album is no longer on Flickr, so the follow-up could not be added' } },
    }) as { photoset?: { photo?: ListedPhoto[] } };
    const first = res.photoset?.photo?.[0]?.id;
    if (!first || !PHOTO_RE.test(first)) {
      throw new NetworkError({ network: 'flickr', code: 'not_found', permanent: true, userMessage: 'the appeal\'s album has no photos left on Flickr, so the follow-up could not be added' });
    }
    return first;
  }

  /** The account's photos uploaded since `since` whose description carries `reference`, oldest first. */
  private async photosCarrying(reference: string, since: number): Promise<ListedPhoto[]> {
    const minSec = Math.floor(since / 1000);
    const found: ListedPhoto[] = [];
    for (let page = 1; page <= FIND_MAX_PAGES; page++) {
      const res = await this.call('flickr.people.getPhotos', () => this.rest('flickr.people.getPhotos', {
        user_id: 'me', min_upload_date: String(Math.max(0, minSec)), extras: 'description,date_upload,tags', per_page: String(PER_PAGE), page: String(page),
      }), { idempotent: true, what: 'reads of the account\'s photos' }) as PhotoPage;
      const list = res.photos?.photo ?? [];
      for (const p of list) {
        const uploaded = Number(p.dateupload);
        if (Number.isFinite(uploaded) && uploaded < minSec) continue;
        if (PHOTO_RE.test(p.id) && carriesReference(p.description?._content ?? '', reference)) found.push(p);
      }
      if (list.length < PER_PAGE || page >= Number(res.photos?.pages ?? 1)) break;
    }
    return found.sort((a, b) => Number(a.dateupload) - Number(b.dateupload) || (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  /** Our album for `reference`: its description carries it and its cover is one of `photos`. */
  private async albumCarrying(reference: string, photos: readonly string[]): Promise<ListedSet | undefined> {
    const { nsid } = await this.me();
    const res = await this.call('flickr.photosets.getList', () => this.rest('flickr.photosets.getList', { user_id: nsid, per_page: String(PER_PAGE) }), {
      idempotent: true, what: 'reads of the account\'s albums',
    }) as { photosets?: { photoset?: ListedSet[] } };
    return (res.photosets?.photoset ?? []).find((s) => carriesReference(s.description?._content ?? '', reference) && photos.includes(s.primary ?? ''));
  }

  /** After a failure that left photos (or an album) public but no post: removes them, unless it may yet have worked. */
  private async cleanUp(err: unknown, photos: string[], setId: string | undefined, log: Logger): Promise<void> {
    if (err instanceof NetworkError && err.ambiguous) return; // recovery (findPublished) will look
    log.warn({ photos, photoset: setId }, 'Flickr: publishing failed half-way; removing what was uploaded');
    try {
      await this.withdraw({ postId: setId ? `${SET_PREFIX}${setId}` : photos[0]!, url: '', extra: { photos } });
    } catch (cleanupErr) {
      log.error({ error: cleanupErr instanceof Error ? cleanupErr.message : String(cleanupErr), photos }, 'Flickr: could not remove the partial upload; delete those photos by hand');
    }
  }

  private async quietlyGone<T>(p: Promise<T>): Promise<T | undefined> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof NetworkError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  /** flickr.test.login, once per process (again after a failure). */
  private me(): Promise<Account> {
    if (!this.account) {
      const p = this.call('flickr.test.login', () => this.rest('flickr.test.login', {}), { idempotent: true, what: 'account reads' })
        .then((res): Account => {
          const id = (res as { user?: { id?: unknown } }).user?.id;
          if (typeof id !== 'string' || !/^[0-9]+@N[0-9]+$/.test(id)) {
            throw new NetworkError({ network: 'flickr', code: 'unknown', permanent: false, userMessage: 'Flickr did not say which account the credentials belong to' });
          }
          return { nsid: id };
        });
      this.account = p;
      p.catch(() => {
        if (this.account === p) this.account = undefined;
      });
    }
    return this.account;
  }
}

function photoUrl(nsid: string, id: string): string {
  return `https://www.flickr.com/photos/${nsid}/${id}`;
}

function albumUrl(nsid: string, id: string): string {
  return `https://www.flickr.com/photos/${nsid}/albums/${id}`;
}

/** A link Flickr gave (a comment's permalink), when it is an https link to flickr.com. */
function flickrLink(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && (url.hostname === 'flickr.com' || url.hostname.endsWith('.flickr.com')) ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** "Ref 7K3Q" → "ref7k3q": one Flickr tag. */
function tagOf(reference: string): string {
  return reference.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0]!.trim();
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}

function toCount(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0;
}

function invalid(userMessage: string): NetworkError {
  return new NetworkError({ network: 'flickr', code: 'invalid', userMessage, permanent: true });
}

function ambiguous(userMessage: string, cause: unknown, status: number | undefined): NetworkError {
  return new NetworkError({ network: 'flickr', code: 'unavailable', permanent: false, ambiguous: true, userMessage, ...(cause !== undefined ? { cause } : {}), ...(status !== undefined ? { status } : {}) });
}
