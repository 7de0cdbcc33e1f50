/**
 * The HTML of the rehearsal's public-side view (see view.ts): one column per network, each
 * post styled loosely like that network shows it. Self-contained: inline CSS and one small
 * inline script (both under the response's CSP nonce), no external font, stylesheet or
 * script, and no inline `style=` attribute (the CSP forbids them).
 *
 * The page is rendered here, on the server, with everything from the world escaped. The
 * script polls state.json: it updates the counters, times and sparklines in place, and when
 * a post appears, is removed or gets a reply it fetches the cards again (/rehearsal/cards)
 * and swaps in only the cards that changed (so a playing video keeps playing). It never builds markup from data.
 */
import { NETWORKS, NETWORK_LABELS, type NetworkName } from '../../core/networks.js';
import type { PublicMedia, PublicPost, RehearsalState } from './view.js';

export interface PageOptions {
  nonce: string;
  pollMs: number;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and (double- or single-quoted) attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** 1234567 → "1,234,567" (the inline script formats the same way). */
export function formatViews(n: number): string {
  return String(Math.max(0, Math.floor(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "just now", "4 min ago", "2 h ago", "3 d ago" (the inline script has the same function). */
export function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** The sparkline's polyline points in a 100×24 box (the inline script has the same function). */
export function sparkPoints(history: Array<{ at: number; views: number }>): string {
  if (history.length < 2) return '';
  const t0 = history[0]!.at;
  const t1 = history[history.length - 1]!.at;
  const max = Math.max(1, ...history.map((h) => h.views));
  return history
    .map((h) => {
      const x = t1 > t0 ? ((h.at - t0) / (t1 - t0)) * 100 : 0;
      const y = 23 - (h.views / max) * 22;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

/** Who posts, as each network would show the account (the world has no account names). */
const ACCOUNT: Record<NetworkName, { name: string; handle: string }> = {
  x: { name: 'Your force', handle: '@your_force' },
  youtube: { name: 'Your force', handle: '@YourForce' },
  flickr: { name: 'Your force', handle: 'your_force' },
  facebook: { name: 'Your force', handle: 'Police service' },
};

/** The four columns and their cards: the page's <main>, and what the script swaps cards from (/rehearsal/cards). */
export function renderColumns(state: RehearsalState): string {
  return NETWORKS.map((network) => renderColumn(network, state.posts.filter((p) => p.network === network), state.now)).join('\n');
}

export function renderPage(state: RehearsalState, options: PageOptions): string {
  const nonce = escapeHtml(options.nonce);
  const columns = renderColumns(state);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>REHEARSAL — public side · Loudhailer</title>
<style nonce="${nonce}">${CSS}</style>
</head>
<body>
<header class="banner">
  <strong class="banner-title">REHEARSAL — nothing here is public</strong>
  <span class="banner-sub">What the public would see on each network if this exercise were real.</span>
  <span class="banner-total">Total views <b id="total-views" data-views="${state.totalViews}">${formatViews(state.totalViews)}</b></span>
  <span id="status" class="status" role="status">live</span>
</header>
<main class="networks">
${columns}
</main>
<script nonce="${nonce}">${script(options.pollMs)}</script>
</body>
</html>
`;
}

function renderColumn(network: NetworkName, posts: PublicPost[], now: number): string {
  const label = escapeHtml(NETWORK_LABELS[network]);
  const cards = posts.length > 0 ? posts.map((p) => renderCard(p, now)).join('\n') : '<p class="empty">Nothing posted yet</p>';
  return `<section class="network net-${network}" data-network="${network}" aria-label="${label}">
<h2 class="network-name"><span class="logo logo-${network}" aria-hidden="true">${LOGOS[network]}</span>${label}</h2>
<div class="posts" data-posts="${network}">
${cards}
</div>
</section>`;
}

function renderCard(post: PublicPost, now: number): string {
  // The id is what the simulated posts' links point at: <view>#<network>-<postId>.
  const attrs = `id="${escapeHtml(anchor(post.network, post.postId))}" class="post post-${post.network}${post.removed ? ' removed' : ''}" data-key="${escapeHtml(post.key)}" data-sig="${escapeHtml(post.sig)}"`;
  if (post.removed) {
    return `<article ${attrs}>
<p class="removed-note">This post has been removed</p>
<p class="removed-sub">${escapeHtml(post.networkLabel)} no longer shows it to anyone.${post.removedAt !== undefined ? ` Withdrawn ${time(post.removedAt, now)}.` : ''}</p>
</article>`;
  }
  switch (post.network) {
    case 'x':
      return renderX(post, attrs, now);
    case 'youtube':
      return renderYouTube(post, attrs, now);
    case 'flickr':
      return renderFlickr(post, attrs, now);
    case 'facebook':
      return renderFacebook(post, attrs, now);
  }
}

function renderX(post: PublicPost, attrs: string, now: number): string {
  const account = ACCOUNT.x;
  return `<article ${attrs}>
<div class="who"><span class="avatar">YF</span><span class="name">${escapeHtml(account.name)}</span><span class="handle">${escapeHtml(account.handle)} · ${time(post.createdAt, now)}</span></div>
${text(post.text)}
${mediaGrid(post.media, 4)}
<div class="stats">${views(post, 'Views')}${spark(post)}</div>
${link(post.url)}
${replies(post, 'Replies', account, now)}
</article>`;
}

function renderYouTube(post: PublicPost, attrs: string, now: number): string {
  const account = ACCOUNT.youtube;
  const video = post.media.find((m) => m.mime.startsWith('video/'));
  const still = post.media.find((m) => m.mime.startsWith('image/'));
  const player = video
    ? `<video class="player" controls preload="metadata" src="${escapeHtml(video.url)}"${still ? ` poster="${escapeHtml(still.url)}"` : ''}></video>`
    : still
      ? `<img class="player" src="${escapeHtml(still.url)}" alt="${escapeHtml(still.name)}">`
      : '<div class="player placeholder" aria-hidden="true">▶</div>';
  return `<article ${attrs}>
${player}
<h3 class="title">${escapeHtml(post.title ?? '')}</h3>
<div class="meta">${views(post, 'views')} · ${time(post.createdAt, now)}${spark(post)}</div>
<div class="who"><span class="avatar">YF</span><span class="name">${escapeHtml(account.name)}</span><span class="handle">${escapeHtml(account.handle)}</span></div>
<div class="description">${text(post.text)}</div>
${link(post.url)}
${replies(post, 'Comments', account, now)}
</article>`;
}

function renderFlickr(post: PublicPost, attrs: string, now: number): string {
  const account = ACCOUNT.flickr;
  const album = post.kind === 'album' || post.media.length > 1;
  const count = post.media.length;
  return `<article ${attrs}>
${album ? `<div class="album-head"><span class="album-label">Album</span> · ${count} ${count === 1 ? 'photo' : 'photos'}</div>` : ''}
${mediaGrid(post.media, Infinity, album ? 'album' : 'single')}
<h3 class="title">${escapeHtml(post.title ?? '')}</h3>
<div class="who"><span class="avatar">YF</span><span class="name">by ${escapeHtml(account.name)}</span><span class="handle">${time(post.createdAt, now)}</span></div>
${text(post.text)}
<div class="stats">${views(post, 'views')}${spark(post)}</div>
${link(post.url)}
${replies(post, 'Comments', account, now)}
</article>`;
}

function renderFacebook(post: PublicPost, attrs: string, now: number): string {
  const account = ACCOUNT.facebook;
  return `<article ${attrs}>
<div class="who"><span class="avatar">YF</span><span class="name">${escapeHtml(account.name)}</span><span class="handle">${time(post.createdAt, now)} · Public</span></div>
${text(post.text)}
${mediaGrid(post.media, Infinity)}
<div class="stats">${views(post, 'views')}${spark(post)}</div>
<div class="actions" aria-hidden="true"><span>Like</span><span>Comment</span><span>Share</span></div>
${link(post.url)}
${replies(post, 'Comments', account, now)}
</article>`;
}

/** A post's or reply's anchor in the page (the simulators link to `/rehearsal#<network>-<id>`). */
export function anchor(network: NetworkName, id: string): string {
  return `${network}-${id}`;
}

function text(s: string | undefined): string {
  return s ? `<div class="text">${escapeHtml(s)}</div>` : '';
}

function time(at: number, now: number): string {
  const iso = Number.isFinite(at) ? new Date(at).toISOString() : '';
  return `<time data-at="${Number.isFinite(at) ? at : 0}" datetime="${iso}" title="${iso}">${ago(now - at)}</time>`;
}

function views(post: PublicPost, word: string): string {
  return `<span class="views"><b class="count" data-views-for="${escapeHtml(post.key)}" data-views="${post.views}">${formatViews(post.views)}</b> ${escapeHtml(word)}</span>`;
}

function spark(post: PublicPost): string {
  return `<svg class="spark" data-spark-for="${escapeHtml(post.key)}" viewBox="0 0 100 24" preserveAspectRatio="none" aria-hidden="true"><polyline fill="none" points="${sparkPoints(post.history)}"/></svg>`;
}

function link(url: string | undefined): string {
  // Shown, not linked: a click must not leave the rehearsal for a real network.
  return url ? `<div class="link" title="The public link (simulated)">${escapeHtml(url)}</div>` : '';
}

function mediaGrid(media: PublicMedia[], max: number, variant = 'grid'): string {
  const shown = media.slice(0, max);
  if (shown.length === 0) return '';
  const items = shown
    .map((m) =>
      m.mime.startsWith('video/')
        ? `<video controls preload="metadata" src="${escapeHtml(m.url)}"></video>`
        : `<img src="${escapeHtml(m.url)}" alt="${escapeHtml(m.name)}" loading="lazy">`,
    )
    .join('');
  return `<div class="media media-${variant} media-n${Math.min(shown.length, 4)}">${items}</div>`;
}

function replies(post: PublicPost, heading: string, account: { name: string }, now: number): string {
  const list = post.replies;
  if (list.length === 0) return '';
  const items = list
    .map((r) => `<li class="reply" id="${escapeHtml(anchor(post.network, r.id))}"><div class="who"><span class="avatar small">YF</span><span class="name">${escapeHtml(account.name)}</span><span class="handle">${time(r.at, now)}</span></div><div class="text">${escapeHtml(r.text)}</div></li>`)
    .join('');
  return `<section class="replies"><h4>${escapeHtml(heading)}</h4><ol>${items}</ol></section>`;
}

const LOGOS: Record<NetworkName, string> = { x: '𝕏', youtube: '▶', flickr: '<span class="b">●</span><span class="p">●</span>', facebook: 'f' };

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;background:#eef0f3;color:#0f1419}
.banner{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;gap:6px 18px;align-items:baseline;padding:10px 18px;background:repeating-linear-gradient(-45deg,#ffd400 0 18px,#ffe14d 18px 36px);color:#111;border-bottom:3px solid #111}
.banner-title{font-size:18px;letter-spacing:.04em}
.banner-sub{flex:1;min-width:200px}
.banner-total b{font-size:18px}
.status{font-size:12px;padding:1px 8px;border-radius:9px;background:#111;color:#ffd400}
.status.down{background:#b00020;color:#fff}
.networks{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:14px;padding:14px;align-items:start}
@media (max-width:1100px){.networks{grid-template-columns:repeat(2,minmax(0,1fr))}}
@media (max-width:620px){.networks{grid-template-columns:1fr}}
.network{min-width:0}
.network-name{display:flex;gap:8px;align-items:center;margin:0 0 10px;font-size:16px}
.logo{display:inline-flex;align-items:center;justify-content:center;width:26px;height:26px;border-radius:6px;font-size:14px;color:#fff}
.logo-x{background:#000}.logo-youtube{background:#f00}.logo-flickr{background:#fff;border:1px solid #ddd;font-size:12px;letter-spacing:-2px}.logo-flickr .b{color:#0063dc}.logo-flickr .p{color:#ff0084}.logo-facebook{background:#1877f2;font-weight:700;font-size:17px}
.posts{display:flex;flex-direction:column;gap:12px}
.empty{color:#68737d;font-style:italic;margin:0;padding:18px;border:2px dashed #c8cdd2;border-radius:10px;text-align:center}
.post{background:#fff;border-radius:10px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.12);overflow-wrap:anywhere}
.post .text{white-space:pre-wrap;margin:6px 0}
.who{display:flex;flex-wrap:wrap;gap:4px 6px;align-items:center}
.avatar{display:inline-flex;align-items:center;justify-content:center;width:32px;height:32px;border-radius:50%;background:#1d3557;color:#fff;font-size:11px;font-weight:700;flex:none}
.avatar.small{width:22px;height:22px;font-size:9px}
.name{font-weight:700}
.handle,.meta,.link,time{color:#536471;font-size:12.5px}
.link{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;margin-top:4px;word-break:break-all}
.stats,.meta{display:flex;align-items:center;gap:8px;margin-top:6px}
.count{font-variant-numeric:tabular-nums}
.spark{width:70px;height:18px;flex:none}
.spark polyline{stroke:#1d9bf0;stroke-width:2;vector-effect:non-scaling-stroke}
.media{display:grid;gap:2px;margin:8px 0;border-radius:12px;overflow:hidden}
.media img,.media video{display:block;width:100%;height:100%;object-fit:cover;background:#ddd;min-height:60px;max-height:260px}
.media-n1{grid-template-columns:1fr}
.media-n2,.media-n3,.media-n4{grid-template-columns:1fr 1fr}
.replies{margin-top:10px;border-top:1px solid #e6e9ec;padding-top:6px}
.replies h4{margin:0 0 4px;font-size:12.5px;color:#536471;font-weight:600}
.replies ol{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:8px}
.reply .text{margin:2px 0 0 28px}
.removed{background:#f7f9f9;border:1px dashed #aab8c2;box-shadow:none}
.removed-note{margin:0;font-weight:700;color:#536471}
.removed-sub{margin:4px 0 0;color:#68737d;font-size:12.5px}
.post:target,.reply:target{outline:3px solid #ffd400;outline-offset:2px}
.post-x{border:1px solid #eff3f4;border-radius:16px}
.post-x .stats .spark polyline{stroke:#1d9bf0}
.post-youtube{background:#fff;padding:0 0 10px;overflow:hidden}
.post-youtube>*:not(.player){margin-left:12px;margin-right:12px}
.post-youtube .player{display:block;width:100%;aspect-ratio:16/9;background:#000;object-fit:contain}
.post-youtube .placeholder{display:flex;align-items:center;justify-content:center;color:#fff;font-size:40px}
.post-youtube .title{font-size:15px;margin:10px 12px 2px}
.post-youtube .description{background:#f2f2f2;border-radius:8px;padding:2px 8px;margin-top:8px}
.post-youtube .spark polyline{stroke:#f00}
.post-youtube.removed{padding:12px}
.post-youtube.removed>*{margin-left:0;margin-right:0}
.post-flickr{background:#212124;color:#fff;border-radius:4px}
.post-flickr .handle,.post-flickr .meta,.post-flickr .link,.post-flickr time,.post-flickr .replies h4{color:#a5a7ab}
.post-flickr .title{margin:8px 0 2px;font-size:15px}
.post-flickr .album-head{color:#a5a7ab;font-size:12.5px}
.post-flickr .album-label{color:#ff0084;font-weight:700}
.post-flickr .media{border-radius:2px}
.post-flickr .media-album{grid-template-columns:repeat(3,1fr)}
.post-flickr .media-album img{aspect-ratio:1;max-height:none}
.post-flickr .spark polyline{stroke:#ff0084}
.post-flickr .avatar{background:#0063dc}
.post-flickr .replies{border-color:#3a3a3e}
.post-flickr.removed{background:#2c2c30;border-color:#555}
.post-flickr.removed .removed-note{color:#ddd}
.post-facebook{border-radius:8px}
.post-facebook .avatar{background:#1877f2}
.post-facebook .media{border-radius:0;margin-left:-12px;margin-right:-12px}
.post-facebook .actions{display:flex;justify-content:space-around;border-top:1px solid #ced0d4;margin-top:8px;padding-top:6px;color:#65676b;font-weight:600;font-size:13px}
.post-facebook .spark polyline{stroke:#1877f2}
.post-facebook .replies .text{background:#f0f2f5;border-radius:14px;padding:4px 10px;display:inline-block}
`.trim();

/**
 * The inline script: polls state.json, updates numbers in place, swaps changed cards. No
 * data ever becomes markup here: counters and times are set with textContent, and new cards
 * come from the server's escaped HTML.
 */
function script(pollMs: number): string {
  return `
(() => {
  'use strict';
  const POLL_MS = ${Math.max(200, Math.floor(pollMs))};
  const fmt = (n) => String(Math.max(0, Math.floor(n))).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ',');
  const ago = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 45) return 'just now';
    const m = Math.round(s / 60);
    if (m < 60) return m + ' min ago';
    const h = Math.floor(m / 60);
    if (h < 24) return h + ' h ago';
    return Math.floor(h / 24) + ' d ago';
  };
  const sparkPoints = (history) => {
    if (history.length < 2) return '';
    const t0 = history[0].at, t1 = history[history.length - 1].at;
    const max = Math.max(1, ...history.map((h) => h.views));
    return history.map((h) => {
      const x = t1 > t0 ? ((h.at - t0) / (t1 - t0)) * 100 : 0;
      const y = 23 - (h.views / max) * 22;
      return x.toFixed(1) + ',' + y.toFixed(1);
    }).join(' ');
  };
  const sig = (p) => (p.removed ? 'removed' : 'live') + ':' + p.replies.map((r) => r.id).join(',');
  const status = document.getElementById('status');
  const cards = () => new Map([...document.querySelectorAll('article[data-key]')].map((a) => [a.dataset.key, a]));

  const structureChanged = (state) => {
    const shown = cards();
    if (shown.size !== state.posts.length) return true;
    return state.posts.some((p) => { const c = shown.get(p.key); return !c || c.dataset.sig !== sig(p); });
  };

  async function swapCards() {
    // Only the cards: a copy of the whole page would carry a <style> without this page's nonce.
    const res = await fetch('/rehearsal/cards', { cache: 'no-store' });
    if (!res.ok) throw new Error('page ' + res.status);
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const shown = cards();
    for (const fresh of doc.querySelectorAll('[data-posts]')) {
      const column = document.querySelector('[data-posts="' + fresh.dataset.posts + '"]');
      if (!column) continue;
      const wanted = [...fresh.children].map((el) => {
        const old = el.dataset.key !== undefined ? shown.get(el.dataset.key) : undefined;
        return old && old.dataset.sig === el.dataset.sig ? old : document.adoptNode(el);
      });
      wanted.forEach((node, i) => { if (column.children[i] !== node) column.insertBefore(node, column.children[i] || null); });
      while (column.children.length > wanted.length) column.lastElementChild.remove();
    }
  }

  function updateNumbers(state) {
    const total = document.getElementById('total-views');
    if (total && total.dataset.views !== String(state.totalViews)) { total.dataset.views = String(state.totalViews); total.textContent = fmt(state.totalViews); }
    const byKey = new Map(state.posts.map((p) => [p.key, p]));
    for (const el of document.querySelectorAll('[data-views-for]')) {
      const p = byKey.get(el.dataset.viewsFor);
      if (p && el.dataset.views !== String(p.views)) { el.dataset.views = String(p.views); el.textContent = fmt(p.views); }
    }
    for (const svg of document.querySelectorAll('svg[data-spark-for]')) {
      const p = byKey.get(svg.dataset.sparkFor);
      const line = svg.querySelector('polyline');
      if (p && line) line.setAttribute('points', sparkPoints(p.history));
    }
    for (const t of document.querySelectorAll('time[data-at]')) t.textContent = ago(state.now - Number(t.dataset.at));
  }

  let busy = false;
  async function tick() {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch('/rehearsal/state.json', { cache: 'no-store' });
      if (!res.ok) throw new Error('state ' + res.status);
      const state = await res.json();
      if (structureChanged(state)) await swapCards();
      updateNumbers(state);
      status.textContent = 'live';
      status.classList.remove('down');
      document.documentElement.dataset.updated = String(state.now);
    } catch (err) {
      status.textContent = 'reconnecting…';
      status.classList.add('down');
    } finally {
      busy = false;
    }
  }
  setInterval(tick, POLL_MS);
  tick();
})();
`;
}
