/**
 * Withdrawal: the real app (dist/main.js) takes an appeal (two images and a video) down from
 * all four networks. Each run publishes the appeal with the fakes answering at once, then
 * sets each fake's answer delay (X 150 ms on its delete route; YouTube 400 ms, Flickr 250 ms
 * and Facebook 200 ms on every request, and the only requests they get while it is set are
 * the deletes, which is checked) and times from sending `/appeal withdraw` to the thread's
 * final "withdrawn everywhere" message (the fake Slack's receive time).
 *
 * A network's own time is its delete calls × its delay: the adapters delete one item after
 * another (Flickr: the album, then each photo; Facebook: the post, then each photo). The
 * networks are taken down in parallel, so the total should be the slowest network's own time
 * plus a small overhead (target < 100 ms). A fresh app (and store) every five runs: YouTube's
 * default daily quota pays for six uploads, and the app refuses a seventh.
 */
import { startFakeFacebook } from '../test/fakes/facebook.js';
import { startFakeFlickr } from '../test/fakes/flickr.js';
import { startFakeSlack } from '../test/fakes/slack.js';
import { startFakeX } from '../test/fakes/x.js';
import { startFakeYouTube } from '../test/fakes/youtube.js';
import { BOT_TOKEN, SIGNING_SECRET, startApp, X_CREDENTIALS, xEnv } from '../test/e2e/harness.js';
import { jpegWithGps, plainPng } from '../test/helpers/images.js';
import { tinyMp4 } from '../test/helpers/video.js';

const RUNS = Number(process.env.BENCH_WITHDRAW_RUNS ?? 50);
const CHANNEL = 'CWITHDRAW';
const YT = { clientId: 'bench.apps.googleusercontent.com', clientSecret: 'bench-yt-secret', refreshToken: '1//bench-refresh' };
const FLICKR = { apiKey: 'bench-flickr-key', apiSecret: 'bench-flickr-secret', oauthToken: 'bench-flickr-token', oauthSecret: 'bench-flickr-token-secret' };
const FB = { pageId: '909090909', pageToken: 'EAAbenchPageToken' };
const LABELS = { x: 'X', youtube: 'YouTube', flickr: 'Flickr', facebook: 'Facebook' } as const;
type Net = keyof typeof LABELS;
const NETS = Object.keys(LABELS) as Net[];
/** Each network's answer delay (ms) during the withdrawal. */
const DELETE_DELAY_MS: Record<Net, number> = { x: 150, youtube: 400, flickr: 250, facebook: 200 };

export async function withdrawBench(): Promise<void> {
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  slack.addChannel(CHANNEL, 'bench');
  const x = await startFakeX(X_CREDENTIALS);
  const yt = await startFakeYouTube(YT);
  const flickr = await startFakeFlickr(FLICKR);
  const fb = await startFakeFacebook(FB);
  // YouTube's default daily quota (10,000 units) pays for six uploads, and the app keeps count
  // (in memory): a fresh app every few runs keeps the quota guard out of the way.
  const APP_RUNS = 5;
  const launch = () => startApp({
    SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl, APPROVERS: 'UAPP1,UAPP2', LOG_LEVEL: 'info',
    // Reach reads each new appeal once, then not for a day.
    REACH_REFRESH_SECONDS: '86400',
    ...xEnv(x.url),
    YOUTUBE_CLIENT_ID: YT.clientId, YOUTUBE_CLIENT_SECRET: YT.clientSecret, YOUTUBE_REFRESH_TOKEN: YT.refreshToken, GOOGLE_API_URL: `${yt.url}/`, GOOGLE_TOKEN_URL: yt.tokenUrl,
    FLICKR_API_KEY: FLICKR.apiKey, FLICKR_API_SECRET: FLICKR.apiSecret, FLICKR_OAUTH_TOKEN: FLICKR.oauthToken, FLICKR_OAUTH_SECRET: FLICKR.oauthSecret, FLICKR_API_URL: flickr.apiUrl, FLICKR_UPLOAD_URL: flickr.uploadUrl,
    FACEBOOK_PAGE_ID: FB.pageId, FACEBOOK_PAGE_TOKEN: FB.pageToken, FACEBOOK_GRAPH_URL: fb.url,
  });
  let app = await launch();
  const files = [
    { name: 'suspect-1.jpg', bytes: await jpegWithGps(), mimetype: 'image/jpeg' },
    { name: 'suspect-2.png', bytes: await plainPng(64, 48), mimetype: 'image/png' },
    { name: 'cctv.mp4', bytes: await tinyMp4(), mimetype: 'video/mp4' },
  ];
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

  function delays(on: boolean): void {
    x.setDelay('delete', on ? DELETE_DELAY_MS.x : 0);
    yt.setDelay(on ? DELETE_DELAY_MS.youtube : 0);
    flickr.delayMs = on ? DELETE_DELAY_MS.flickr : 0;
    fb.delayMs = on ? DELETE_DELAY_MS.facebook : 0;
  }

  /** Requests each fake has served so far, with the route (or Flickr method) of each. */
  function served(): Record<Net, string[]> {
    return {
      x: x.requests.map((r) => r.route ?? r.path),
      youtube: yt.requests.map((r) => r.route ?? r.path),
      flickr: flickr.requests.map((r) => r.route ?? r.path),
      facebook: fb.requests.map((r) => r.route ?? r.path),
    };
  }
  const isDelete: Record<Net, (route: string) => boolean> = {
    x: (r) => r === 'delete',
    youtube: (r) => r === 'videosDelete',
    flickr: (r) => r === 'flickr.photosets.delete' || r === 'flickr.photos.delete',
    facebook: (r) => r === 'delete',
  };

  /** Publishes one appeal everywhere (fakes answering at once); returns its id and thread. */
  async function publish(n: number): Promise<{ id: string; rootTs: string }> {
    const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `Bench appeal ${n}: have you seen these two men?`, userId: 'UAUTHOR', channelId: CHANNEL });
    const root = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId));
    const id = /Appeal #([2-9A-HJKMNP-Z]{4,8})/.exec(root.text)![1]!;
    // Seeded last, after the thread is known to the app: files shared sooner would be ignored.
    await slack.waitFor(() => slack.message(CHANNEL, root.ts)!.reactions.length === 2);
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel: CHANNEL, threadTs: root.ts, files });
    const card = await slack.waitFor(() => slack.thread(CHANNEL, root.ts).find((m) => m.ts !== root.ts && JSON.stringify(m.blocks ?? []).includes('cctv.mp4')), { timeoutMs: 30_000 });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2);
    for (const user of ['UAPP1', 'UAPP2']) await slack.react(app.eventsUrl, SIGNING_SECRET, { user, channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark' });
    const links = await slack.waitFor(() => {
      const said = slack.thread(CHANNEL, root.ts).filter((m) => /is live on|couldn't be published/.test(m.text));
      return said.length >= NETS.length ? said : undefined;
    }, { timeoutMs: 60_000 });
    if (links.some((m) => /couldn't be published/.test(m.text))) throw new Error(`publishing failed: ${links.map((m) => m.text).join(' | ')}`);
    return { id, rootTs: root.ts };
  }

  try {
    const totals: number[] = [];
    const overheads: number[] = [];
    const confirmed: Record<Net, number[]> = { x: [], youtube: [], flickr: [], facebook: [] };
    const own: Record<Net, number[]> = { x: [], youtube: [], flickr: [], facebook: [] };
    const slowest: Record<Net, number> = { x: 0, youtube: 0, flickr: 0, facebook: 0 };
    const stray = new Map<string, number>();
    for (let n = 0; n < RUNS; n++) {
      if (n > 0 && n % APP_RUNS === 0) {
        await app.stop();
        app = await launch();
      }
      const { id, rootTs } = await publish(n);
      // The reach poller reads a new appeal once, soon after it goes live (then not for a day):
      // wait for that read, so the fakes serve nothing but the deletes while the delays are set.
      await slack.waitFor(() => slack.thread(CHANNEL, rootTs).some((m) => /Reach of/.test(m.text)), { timeoutMs: 30_000 });
      await new Promise((r) => setTimeout(r, 100));
      const seen = served();
      delays(true);
      const inThread = () => slack.callsTo('chat.postMessage').filter((c) => c.params.thread_ts === rootTs);
      const sent = Date.now();
      await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `withdraw ${id} bench`, userId: 'UAUTHOR', channelId: CHANNEL });
      const done = await slack.waitFor(() => inThread().find((c) => /withdrawn everywhere/.test(String(c.params.text))), { timeoutMs: 30_000, intervalMs: 2 });
      delays(false);
      const total = done.at - sent;
      totals.push(total);

      const now = served();
      let slowestOwn = 0;
      let slowestNet: Net = 'x';
      for (const net of NETS) {
        const during = now[net].slice(seen[net].length);
        const deletes = during.filter(isDelete[net]).length;
        for (const r of during.filter((route) => !isDelete[net](route))) stray.set(`${LABELS[net]} ${r}`, (stray.get(`${LABELS[net]} ${r}`) ?? 0) + 1);
        const ms = deletes * DELETE_DELAY_MS[net];
        own[net].push(ms);
        if (ms > slowestOwn) [slowestOwn, slowestNet] = [ms, net];
        const removed = inThread().find((c) => new RegExp(`removed from ${LABELS[net]}\\.`).test(String(c.params.text)));
        if (!removed) throw new Error(`run ${n}: no "removed from ${LABELS[net]}" in the thread`);
        confirmed[net].push(removed.at - sent);
      }
      slowest[slowestNet] += 1;
      overheads.push(total - slowestOwn);
    }

    console.log(`Withdrawal, /appeal withdraw → "withdrawn everywhere" in the thread; an appeal with two images and a video on all four networks; fakes answer after X 150 ms (delete), YouTube 400 ms, Flickr 250 ms, Facebook 200 ms per call; ${RUNS} runs:`);
    console.table(NETS.map((net) => ({
      network: LABELS[net],
      'delete calls': own[net][0]! / DELETE_DELAY_MS[net],
      'own time ms': own[net][0],
      'confirmed p50 ms': pct(confirmed[net], 50),
      'confirmed p95 ms': pct(confirmed[net], 95),
      'confirmed max ms': Math.max(...confirmed[net]),
      'slowest in runs': slowest[net],
    })));
    console.table([
      { figure: 'total (withdraw → withdrawn everywhere)', 'p50 ms': pct(totals, 50), 'p95 ms': pct(totals, 95), 'max ms': Math.max(...totals) },
      { figure: "overhead (total − slowest network's own time)", 'p50 ms': pct(overheads, 50), 'p95 ms': pct(overheads, 95), 'max ms': Math.max(...overheads) },
    ]);
    const slowestName = NETS.reduce((a, b) => (slowest[b] > slowest[a] ? b : a));
    console.log(`slowest network: ${LABELS[slowestName]} (${own[slowestName][0]} ms of its own); overhead p50 ${pct(overheads, 50)} ms, p95 ${pct(overheads, 95)} ms (target < 100 ms)`);
    if (stray.size > 0) console.log(`other requests the fakes served while the delays were set (also delayed): ${[...stray].map(([k, v]) => `${k} ×${v}`).join(', ')}`);
    else console.log('while the delays were set, the fakes served nothing but the deletes');
    console.log(`still live on the fakes afterwards: X ${x.livePosts().length}, YouTube ${yt.liveVideos().length}, Flickr ${flickr.livePhotos().length} photos / ${flickr.livePhotosets().length} albums, Facebook ${fb.livePosts().length}`);
  } finally {
    await app.stop();
    await Promise.all([x.close(), yt.close(), flickr.close(), fb.close(), slack.close()]);
  }
}
