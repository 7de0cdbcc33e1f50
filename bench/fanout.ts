/**
 * Fan-out: the real app (dist/main.js) publishing one appeal (two images and a video) to
 * each network alone and to all four at once, with every fake answering each request after
 * a fixed delay (X 100 ms, Flickr 300 ms, Facebook 200 ms, YouTube 500 ms). Time from the
 * last approval to the last link in the thread: all four should take about as long as the
 * slowest one alone, not the sum.
 */
import { startFakeFacebook } from '../test/fakes/facebook.js';
import { startFakeFlickr } from '../test/fakes/flickr.js';
import { startFakeSlack } from '../test/fakes/slack.js';
import { startFakeX } from '../test/fakes/x.js';
import { startFakeYouTube } from '../test/fakes/youtube.js';
import { BOT_TOKEN, SIGNING_SECRET, startApp, X_CREDENTIALS, xEnv } from '../test/e2e/harness.js';
import { jpegWithGps, plainPng } from '../test/helpers/images.js';
import { tinyMp4 } from '../test/helpers/video.js';

const RUNS = Number(process.env.BENCH_FANOUT_RUNS ?? 3);
const CHANNEL = 'CFANOUT';
const YT = { clientId: 'bench.apps.googleusercontent.com', clientSecret: 'bench-yt-secret', refreshToken: '1//bench-refresh' };
const FLICKR = { apiKey: 'bench-flickr-key', apiSecret: 'bench-flickr-secret', oauthToken: 'bench-flickr-token', oauthSecret: 'bench-flickr-token-secret' };
const FB = { pageId: '909090909', pageToken: 'EAAbenchPageToken' };
const LABELS = { x: 'X', youtube: 'YouTube', flickr: 'Flickr', facebook: 'Facebook' } as const;
type Net = keyof typeof LABELS;

export async function fanoutBench(): Promise<void> {
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  slack.addChannel(CHANNEL, 'bench');
  const x = await startFakeX(X_CREDENTIALS);
  const yt = await startFakeYouTube(YT);
  const flickr = await startFakeFlickr(FLICKR);
  const fb = await startFakeFacebook(FB);
  x.setDelay('*', 100);
  flickr.delayMs = 300;
  fb.delayMs = 200;
  yt.setDelay(500);
  const app = await startApp({
    SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl, APPROVERS: 'UAPP1,UAPP2', LOG_LEVEL: 'info',
    ...xEnv(x.url),
    YOUTUBE_CLIENT_ID: YT.clientId, YOUTUBE_CLIENT_SECRET: YT.clientSecret, YOUTUBE_REFRESH_TOKEN: YT.refreshToken, GOOGLE_API_URL: `${yt.url}/`, GOOGLE_TOKEN_URL: yt.tokenUrl,
    FLICKR_API_KEY: FLICKR.apiKey, FLICKR_API_SECRET: FLICKR.apiSecret, FLICKR_OAUTH_TOKEN: FLICKR.oauthToken, FLICKR_OAUTH_SECRET: FLICKR.oauthSecret, FLICKR_API_URL: flickr.apiUrl, FLICKR_UPLOAD_URL: flickr.uploadUrl,
    FACEBOOK_PAGE_ID: FB.pageId, FACEBOOK_PAGE_TOKEN: FB.pageToken, FACEBOOK_GRAPH_URL: fb.url,
  });
  const files = [
    { name: 'suspect-1.jpg', bytes: await jpegWithGps(), mimetype: 'image/jpeg' },
    { name: 'suspect-2.png', bytes: await plainPng(64, 48), mimetype: 'image/png' },
    { name: 'cctv.mp4', bytes: await tinyMp4(), mimetype: 'video/mp4' },
  ];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  async function once(targets: Net[], n: number): Promise<number> {
    const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
    await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `to:${targets.join(',')} Fan-out bench ${n}: have you seen this man?`, userId: 'UAUTHOR', channelId: CHANNEL });
    const root = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId));
    await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel: CHANNEL, threadTs: root.ts, files });
    const card = await slack.waitFor(() => slack.thread(CHANNEL, root.ts).find((m) => m.ts !== root.ts && JSON.stringify(m.blocks ?? []).includes('cctv.mp4')), { timeoutMs: 20_000 });
    await slack.waitFor(() => slack.message(CHANNEL, card.ts)!.reactions.length === 2);
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark' });
    await slack.waitFor(() => slack.callsTo('chat.update').some((c) => c.params.ts === card.ts && /1 of 2/.test(JSON.stringify(c.params.blocks))));
    const sent = Date.now();
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark' });
    const links = await slack.waitFor(() => {
      const calls = slack.callsTo('chat.postMessage').filter((c) => c.params.thread_ts === root.ts && /is live on|couldn't be published/.test(String(c.params.text)));
      return calls.length >= targets.length ? calls : undefined;
    }, { timeoutMs: 60_000, intervalMs: 5 });
    if (links.some((c) => /couldn't be published/.test(String(c.params.text)))) throw new Error(`a network failed: ${links.map((c) => String(c.params.text)).join(' | ')}`);
    return Math.max(...links.map((c) => c.at)) - sent;
  }

  try {
    const rows: Array<Record<string, string | number>> = [];
    const alone: Record<string, number> = {};
    let n = 0;
    for (const net of Object.keys(LABELS) as Net[]) {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) times.push(await once([net], n++));
      alone[net] = median(times);
      rows.push({ publish: `${LABELS[net]} alone`, 'median ms': median(times), 'min ms': Math.min(...times), 'max ms': Math.max(...times) });
    }
    const all: number[] = [];
    for (let i = 0; i < RUNS; i++) all.push(await once(['x', 'youtube', 'flickr', 'facebook'], n++));
    rows.push({ publish: 'all four at once', 'median ms': median(all), 'min ms': Math.min(...all), 'max ms': Math.max(...all) });
    const slowest = Math.max(...Object.values(alone));
    const sum = Object.values(alone).reduce((a, b) => a + b, 0);
    console.log(`Fan-out, last approval → last link in the thread; fakes answer each request after X 100 ms, Flickr 300 ms, Facebook 200 ms, YouTube 500 ms; two images and a video; ${RUNS} runs each:`);
    console.table(rows);
    console.log(`all four: ${median(all)} ms = ${(median(all) / slowest).toFixed(2)}× the slowest network alone (${slowest} ms; target ≤ 1.2×); the sum would be ${sum} ms`);
  } finally {
    await app.stop();
    await Promise.all([x.close(), yt.close(), flickr.close(), fb.close(), slack.close()]);
  }
}
