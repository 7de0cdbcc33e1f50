/**
 * The rehearsal's public-side view (src/platforms/rehearsal/view.ts), over real HTTP around
 * the handler, with a RehearsalWorld filled directly: no app, no simulator.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createRehearsalView, parseRange, publicState, type RehearsalState } from '../../src/platforms/rehearsal/view.js';
import { ago, escapeHtml, formatViews, sparkPoints } from '../../src/platforms/rehearsal/view-page.js';
import { RehearsalWorld } from '../../src/platforms/rehearsal/world.js';
import { APPEAL_TEXT, appealWorld, media, post } from '../helpers/rehearsal-world.js';
import { plainPng } from '../helpers/images.js';

const HOSTILE = `</div><script>alert("pwned")</script><img src=x onerror=alert(1)> & 'quoted' "double"`;
const T0 = 1_700_000_000_000;

interface Served {
  url: string;
  raw(path: string, options?: { method?: string; headers?: Record<string, string> }): Promise<RawResponse>;
}
interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A plain HTTP server around the handler; what it doesn't handle is answered 418 (so a test can tell). */
async function serve(world: RehearsalWorld, now = T0 + 5 * 60_000): Promise<Served> {
  const handler = createRehearsalView(world, { clock: { now: () => now } });
  const server = createServer((req, res) => {
    if (!handler(req, res)) res.writeHead(418, { 'content-type': 'text/plain' }).end('not mine');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    // node:http sends the path exactly as given (fetch would normalise "../").
    raw: (path, options = {}) =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      }),
  };
}

function hostileWorld(): RehearsalWorld {
  const world = new RehearsalWorld();
  world.add(post('x', 'p1', { text: HOSTILE, views: 10, replies: [{ id: 'r1', text: `Update: ${HOSTILE}`, at: T0 + 1000 }] }));
  world.add(post('youtube', 'v1', { title: HOSTILE, text: HOSTILE, createdAt: T0 + 1 }));
  world.add(post('flickr', 'a1', { title: HOSTILE, text: HOSTILE, createdAt: T0 + 2, media: [media('img"1', Buffer.from('x'), 'image/png', HOSTILE)] }));
  world.add(post('facebook', 'f1', { text: HOSTILE, createdAt: T0 + 3 }));
  return world;
}

describe('GET /rehearsal: the page', () => {
  it('shows the banner, one column per network and the appeal on each, with its views', async () => {
    const { world } = await appealWorld(T0);
    const { raw } = await serve(world);
    const res = await raw('/rehearsal');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('REHEARSAL — nothing here is public');
    for (const n of ['x', 'youtube', 'flickr', 'facebook']) expect(res.text).toContain(`data-network="${n}"`);
    // The text, escaped once ("?" and "." need nothing, so it appears as is), on each network.
    expect(res.text.split(escapeHtml(APPEAL_TEXT)).length - 1).toBe(4);
    expect(res.text).toContain('>1,234</b> Views');
    expect(res.text).toContain('>4,321</b> views');
    expect(res.text).toContain('Total views <b id="total-views" data-views="5963">5,963</b>');
    expect(res.text).toContain('<img src="/rehearsal/media/m-still-1"');
    expect(res.text).toContain('3 photos');
    expect(res.text).toContain('5 min ago');
    expect(res.text).not.toContain('This post has been removed');
  });

  it('escapes everything from the world: text, titles, replies, media names and ids', async () => {
    const { raw } = await serve(hostileWorld());
    const res = await raw('/rehearsal');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<script>alert');
    expect(res.text).not.toContain('<img src=x');
    expect(res.text).not.toContain('</div><script>');
    expect(res.text).toContain('&lt;/div&gt;&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &#39;quoted&#39; &quot;double&quot;');
    expect(res.text).toContain('Update: &lt;/div&gt;&lt;script&gt;');
    // A media id with a quote is URL-encoded in the src and cannot break out of the attribute.
    expect(res.text).toContain('src="/rehearsal/media/img%221"');
    // The only script is the page's own, carrying the nonce the CSP names.
    const scripts = [...res.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts).toHaveLength(1);
    const nonce = /script-src 'nonce-([^']+)'/.exec(String(res.headers['content-security-policy']))?.[1];
    expect(nonce).toBeTruthy();
    expect(scripts[0]).toBe(`<script nonce="${nonce}">`);
    expect(res.text).toContain(`<style nonce="${nonce}">`);
    expect(res.text).not.toMatch(/\sstyle=/); // inline style attributes would be blocked by the CSP
  });

  it('sends a strict CSP with a fresh nonce on every request, and the usual hardening headers', async () => {
    const { raw } = await serve(new RehearsalWorld());
    const a = await raw('/rehearsal');
    const b = await raw('/rehearsal');
    const csp = String(a.headers['content-security-policy']);
    expect(csp).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]{20,}'; style-src 'nonce-[A-Za-z0-9+/=]{20,}'; img-src 'self'; media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'$/);
    expect(csp).not.toContain('unsafe');
    expect(b.headers['content-security-policy']).not.toBe(csp);
    expect(a.headers['x-content-type-options']).toBe('nosniff');
    expect(a.headers['cache-control']).toBe('no-store');
    expect(a.headers['x-frame-options']).toBe('DENY');
    expect(a.headers['referrer-policy']).toBe('no-referrer');
  });

  it('shows a withdrawn post as removed: no text, no media, no replies, views frozen out of sight', async () => {
    const { world, posts } = await appealWorld(T0);
    posts.x.text = 'WITHDRAWN-TEXT-MARKER';
    posts.x.replies.push({ id: 'r1', text: 'REPLY-MARKER', at: T0 + 10 });
    posts.x.withdrawnAt = T0 + 4 * 60_000;
    world.changed('withdrawn', posts.x);
    const { raw } = await serve(world);
    const res = await raw('/rehearsal');
    const xColumn = res.text.slice(res.text.indexOf('data-network="x"'), res.text.indexOf('data-network="youtube"'));
    expect(xColumn).toContain('This post has been removed');
    expect(xColumn).toContain('Withdrawn <time');
    expect(xColumn).not.toContain('<img');
    expect(xColumn).not.toContain('data-views-for');
    expect(res.text).not.toContain('WITHDRAWN-TEXT-MARKER');
    expect(res.text).not.toContain('REPLY-MARKER');
    // The other networks still show the appeal.
    expect(res.text.split(escapeHtml(APPEAL_TEXT)).length - 1).toBe(3);
  });

  it('shows replies (updates) and hides a withdrawn reply', async () => {
    const { world, posts } = await appealWorld(T0);
    posts.facebook.replies.push({ id: 'u1', text: 'Update (Ref 7K3Q): he has been found safe, thank you.', at: T0 + 60_000 });
    posts.facebook.replies.push({ id: 'u0', text: 'GONE-REPLY', at: T0 + 30_000, withdrawnAt: T0 + 40_000 });
    world.changed('reply', posts.facebook);
    const { raw } = await serve(world);
    const res = await raw('/rehearsal');
    expect(res.text).toContain('Update (Ref 7K3Q): he has been found safe, thank you.');
    expect(res.text).not.toContain('GONE-REPLY');
    expect(res.text).toContain('data-sig="live:u1"');
    // The simulated posts' links (<view>#<network>-<id>) land on the card and on the reply.
    expect(res.text).toContain('<article id="facebook-1234567890_987654321" class="post post-facebook"');
    expect(res.text).toContain('<li class="reply" id="facebook-u1">');
  });

  it('plays a YouTube video in a <video> element, with a still as its poster', async () => {
    const world = new RehearsalWorld();
    world.add(post('youtube', 'v1', { title: 'Appeal', media: [media('vid', Buffer.from('mp4'), 'video/mp4', 'cctv.mp4'), media('still', Buffer.from('png'))] }));
    const { raw } = await serve(world);
    const res = await raw('/rehearsal');
    expect(res.text).toContain('<video class="player" controls preload="metadata" src="/rehearsal/media/vid" poster="/rehearsal/media/still"></video>');
  });

  it('says "Nothing posted yet" for every network of an empty world, and serves /rehearsal/ too', async () => {
    const { raw } = await serve(new RehearsalWorld());
    const res = await raw('/rehearsal/');
    expect(res.status).toBe(200);
    expect(res.text.split('Nothing posted yet').length - 1).toBe(4);
  });

  it('serves the columns alone at /rehearsal/cards (what the script swaps cards from): escaped, no style, no script', async () => {
    const { raw } = await serve(hostileWorld());
    const res = await raw('/rehearsal/cards');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
    expect(res.text.split('<section class="network').length - 1).toBe(4);
    expect(res.text).toContain('data-key="x|p1"');
    expect(res.text).toContain('id="x-p1"');
    expect(res.text).not.toMatch(/<script|<style|<html|<img src=x/);
    expect(res.text).toContain('&lt;script&gt;alert(&quot;pwned&quot;)');
  });

  it('answers HEAD with the headers and no body', async () => {
    const { raw } = await serve(new RehearsalWorld());
    const res = await raw('/rehearsal', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(Number(res.headers['content-length'])).toBeGreaterThan(1000);
    expect(res.body.length).toBe(0);
  });
});

describe('GET /rehearsal/state.json', () => {
  it('is the world as the public sees it: posts newest first, media as ids and mimes, no bytes', async () => {
    const { world, posts } = await appealWorld(T0);
    posts.flickr.withdrawnAt = T0 + 90_000;
    posts.x.replies.push({ id: 'r1', text: 'Update', at: T0 + 1 }, { id: 'r2', text: 'gone', at: T0 + 2, withdrawnAt: T0 + 3 });
    const { raw } = await serve(world, T0 + 123_456);
    const res = await raw('/rehearsal/state.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    const state = JSON.parse(res.text) as RehearsalState;
    expect(state.rehearsal).toBe(true);
    expect(state.now).toBe(T0 + 123_456);
    expect(state.totalViews).toBe(1234 + 321 + 87 + 4321);
    expect(state.posts.map((p) => p.network)).toEqual(['facebook', 'flickr', 'youtube', 'x']);
    const x = state.posts.find((p) => p.network === 'x')!;
    expect(x).toEqual({
      key: 'x|1790000000000000001',
      network: 'x',
      networkLabel: 'X',
      postId: '1790000000000000001',
      kind: 'post',
      createdAt: T0,
      views: 1234,
      history: [{ at: T0, views: 0 }, { at: T0 + 60_000, views: 617 }, { at: T0 + 120_000, views: 1234 }],
      removed: false,
      url: 'https://rehearsal.invalid/x/1790000000000000001',
      text: APPEAL_TEXT,
      media: [
        { id: 'm-still-1', mime: 'image/png', name: 'cam04-still.png', url: '/rehearsal/media/m-still-1' },
        { id: 'm-still-2', mime: 'image/png', name: 'cam05-still.png', url: '/rehearsal/media/m-still-2' },
      ],
      replies: [{ id: 'r1', text: 'Update', at: T0 + 1 }],
      sig: 'live:r1',
    });
    const flickr = state.posts.find((p) => p.network === 'flickr')!;
    expect(flickr).toEqual({
      key: 'flickr|72177720300000000',
      network: 'flickr',
      networkLabel: 'Flickr',
      postId: '72177720300000000',
      kind: 'album',
      createdAt: T0 + 2,
      views: 87,
      history: expect.any(Array) as unknown,
      removed: true,
      removedAt: T0 + 90_000,
      media: [],
      replies: [],
      sig: 'removed:',
    });
    expect(res.text).not.toMatch(/"bytes"|"data"|"type":"Buffer"/);
  });

  it('keeps only the last 60 views readings of a long history, and never a negative or broken count', async () => {
    const world = new RehearsalWorld();
    world.add(post('x', 'p', { views: Number.NaN, history: Array.from({ length: 500 }, (_, i) => ({ at: T0 + i, views: i })) }));
    const state = publicState(world, T0);
    expect(state.posts[0]!.history).toHaveLength(60);
    expect(state.posts[0]!.history[0]).toEqual({ at: T0 + 440, views: 440 });
    expect(state.posts[0]!.views).toBe(0);
  });
});

describe('GET /rehearsal/media/<id>', () => {
  it('serves the bytes with their type, nosniff and a locked-down CSP', async () => {
    const png = await plainPng(32, 24);
    const world = new RehearsalWorld();
    world.add(post('x', 'p', { media: [media('m1', png)] }));
    const { raw } = await serve(world);
    const res = await raw('/rehearsal/media/m1');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
    expect(res.headers['content-disposition']).toBeUndefined();
    expect(res.body.equals(png)).toBe(true);
  });

  it('serves a video with its type and honours a byte range (a <video> seeks with them)', async () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
    const world = new RehearsalWorld();
    world.add(post('youtube', 'v', { media: [media('v1', bytes, 'video/mp4', 'cctv.mp4')] }));
    const { raw } = await serve(world);
    const full = await raw('/rehearsal/media/v1');
    expect(full.headers['content-type']).toBe('video/mp4');
    expect(full.headers['accept-ranges']).toBe('bytes');
    expect(full.body.equals(bytes)).toBe(true);
    const part = await raw('/rehearsal/media/v1', { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/1000');
    expect(part.body.equals(bytes.subarray(100, 200))).toBe(true);
    const tail = await raw('/rehearsal/media/v1', { headers: { range: 'bytes=-10' } });
    expect(tail.body.equals(bytes.subarray(990))).toBe(true);
    const beyond = await raw('/rehearsal/media/v1', { headers: { range: 'bytes=5000-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */1000');
    const head = await raw('/rehearsal/media/v1', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('1000');
    expect(head.body.length).toBe(0);
  });

  it('serves a type it does not know as a download the browser will not render', async () => {
    const world = new RehearsalWorld();
    world.add(post('x', 'p', { media: [media('evil', Buffer.from('<svg onload=alert(1)>'), 'image/svg+xml', 'evil.svg')] }));
    const { raw } = await serve(world);
    const res = await raw('/rehearsal/media/evil');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['content-disposition']).toBe('attachment');
  });

  it('is a 404 for unknown ids, traversal attempts, nested paths and broken encodings', async () => {
    const world = new RehearsalWorld();
    world.add(post('x', 'p', { media: [media('m1', Buffer.from('png'))] }));
    const { raw } = await serve(world);
    for (const path of [
      '/rehearsal/media/nope',
      '/rehearsal/media/',
      '/rehearsal/media/../../../etc/passwd',
      '/rehearsal/media/..%2F..%2F..%2Fetc%2Fpasswd',
      '/rehearsal/media/m1/extra',
      '/rehearsal/media/%E0%A4%A',
      '/rehearsal/media/__proto__',
      '/rehearsal/media/constructor',
      `/rehearsal/media/${'a'.repeat(5000)}`,
    ]) {
      const res = await raw(path);
      expect(res.status, path).toBe(404);
      expect(res.headers['x-content-type-options'], path).toBe('nosniff');
      expect(res.text, path).toBe('not found\n');
    }
  });

  it('stops serving the media of a withdrawn post (the public no longer sees it), unless a live post still shows it', async () => {
    const { world, posts } = await appealWorld(T0);
    posts.flickr.withdrawnAt = T0 + 1; // the album had m-still-3 alone; m-still-2 is also on X
    const { raw } = await serve(world);
    expect((await raw('/rehearsal/media/m-still-3')).status).toBe(404);
    expect((await raw('/rehearsal/media/m-still-2')).status).toBe(200);
    posts.x.withdrawnAt = T0 + 2;
    expect((await raw('/rehearsal/media/m-still-2')).status).toBe(404);
    expect((await raw('/rehearsal/media/m-still-1')).status).toBe(200); // YouTube and Facebook still show it
  });
});

describe('routing', () => {
  it('is a 404 for anything else under /rehearsal, and leaves other paths to the server', async () => {
    const { raw } = await serve(new RehearsalWorld());
    for (const path of ['/rehearsal/nope', '/rehearsal/state.json/x', '/rehearsal/media', '/rehearsal//state.json', '/rehearsal/../slack/events']) {
      expect((await raw(path)).status, path).toBe(404);
    }
    for (const path of ['/rehearsals', '/rehearsal.json', '/', '/healthz', '/slack/events']) {
      const res = await raw(path);
      expect(res.status, path).toBe(418);
    }
    const withQuery = await raw('/rehearsal/state.json?t=123');
    expect(withQuery.status).toBe(200);
  });

  it('answers only GET and HEAD', async () => {
    const { raw } = await serve(new RehearsalWorld());
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await raw('/rehearsal/state.json', { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
    }
  });
});

describe('the page helpers', () => {
  it('formats counts, ages and sparklines as the inline script does', () => {
    expect(formatViews(0)).toBe('0');
    expect(formatViews(999)).toBe('999');
    expect(formatViews(1234567)).toBe('1,234,567');
    expect(ago(0)).toBe('just now');
    expect(ago(5 * 60_000)).toBe('5 min ago');
    expect(ago(3 * 3600_000)).toBe('3 h ago');
    expect(ago(50 * 3600_000)).toBe('2 d ago');
    expect(sparkPoints([{ at: 0, views: 0 }])).toBe('');
    expect(sparkPoints([{ at: 0, views: 0 }, { at: 10, views: 5 }, { at: 20, views: 10 }])).toBe('0.0,23.0 50.0,12.0 100.0,1.0');
  });

  it('reads one byte range, and ignores what it cannot honour', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual([0, 9]);
    expect(parseRange('bytes=90-', 100)).toEqual([90, 99]);
    expect(parseRange('bytes=90-500', 100)).toEqual([90, 99]);
    expect(parseRange('bytes=-5', 100)).toEqual([95, 99]);
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange('items=0-1', 100)).toBeUndefined();
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=9-3', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
  });
});

describe('views brought up to date', () => {
  it('asks the world to refresh its views before every page and state read, not for media', async () => {
    const { world, posts } = await appealWorld(T0);
    let refreshes = 0;
    world.onRefresh(() => {
      refreshes++;
      posts.x.views += 100;
    });
    const { raw } = await serve(world);
    const first = JSON.parse((await raw('/rehearsal/state.json')).text) as RehearsalState;
    const second = JSON.parse((await raw('/rehearsal/state.json')).text) as RehearsalState;
    expect(first.posts.find((p) => p.network === 'x')!.views).toBe(1334);
    expect(second.posts.find((p) => p.network === 'x')!.views).toBe(1434);
    expect((await raw('/rehearsal')).text).toContain('>1,534</b> Views');
    await raw('/rehearsal/media/m-still-1');
    expect(refreshes).toBe(3);
  });
});
