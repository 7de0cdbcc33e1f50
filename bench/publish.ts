/**
 * Publish latency: the real app (dist/main.js) against fake Slack and fake X answering
 * instantly; from sending the second approval to the post's link arriving in the thread
 * (the fake Slack's receive time of that chat.postMessage).
 */
import { startFakeSlack } from '../test/fakes/slack.js';
import { startFakeX } from '../test/fakes/x.js';
import { BOT_TOKEN, SIGNING_SECRET, startApp, X_CREDENTIALS, xEnv } from '../test/e2e/harness.js';
import { jpegWithGps } from '../test/helpers/images.js';

const RUNS = Number(process.env.BENCH_PUBLISH_RUNS ?? 30);
const CHANNEL = 'CBENCH';

export async function publishBench(): Promise<void> {
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  slack.addChannel(CHANNEL, 'bench');
  const x = await startFakeX(X_CREDENTIALS);
  const app = await startApp({
    SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl,
    APPROVERS: 'UAPP1,UAPP2', LOG_LEVEL: 'info', ...xEnv(x.url),
  });
  const image = await jpegWithGps();
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  try {
    const results: Record<string, number[]> = { 'text only': [], 'with one image': [] };
    for (let i = 0; i < RUNS * 2; i++) {
      const withImage = i % 2 === 1;
      const before = new Set(slack.messages(CHANNEL).map((m) => m.ts));
      await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text: `Bench appeal ${i}: have you seen this person?`, userId: 'UAUTHOR', channelId: CHANNEL });
      const root = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => !before.has(m.ts) && !m.thread_ts && m.user === slack.botUserId));
      await slack.waitFor(() => slack.message(CHANNEL, root.ts)!.reactions.length === 2);
      let card = root.ts;
      if (withImage) {
        await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, { user: 'UAUTHOR', channel: CHANNEL, threadTs: root.ts, files: [{ name: 'still.jpg', bytes: image, mimetype: 'image/jpeg' }] });
        const c2 = await slack.waitFor(() => slack.thread(CHANNEL, root.ts).find((m) => m.ts !== root.ts && (m.blocks?.length ?? 0) > 0));
        await slack.waitFor(() => slack.message(CHANNEL, c2.ts)!.reactions.length === 2);
        card = c2.ts;
      }
      await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP1', channel: CHANNEL, ts: card, reaction: 'white_check_mark' });
      await slack.waitFor(() => slack.callsTo('chat.update').some((c) => c.params.ts === card && /1 of 2/.test(JSON.stringify(c.params.blocks))));
      const sent = Date.now();
      await slack.react(app.eventsUrl, SIGNING_SECRET, { user: 'UAPP2', channel: CHANNEL, ts: card, reaction: 'white_check_mark' });
      const live = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.params.thread_ts === root.ts && /is live on X/.test(String(c.params.text))), { timeoutMs: 20_000, intervalMs: 5 });
      results[withImage ? 'with one image' : 'text only']!.push(live.at - sent);
    }
    console.log(`Publish latency, second approval → link in the thread, ${RUNS} runs each, fakes answering instantly (target p50 < 200 ms):`);
    console.table(Object.entries(results).map(([kind, xs]) => ({ kind, 'p50 ms': pct(xs, 50), 'p95 ms': pct(xs, 95), 'max ms': Math.max(...xs) })));
    console.log(`X posts created: ${x.posts.length} for ${RUNS * 2} appeals`);
  } finally {
    await app.stop();
    await x.close();
    await slack.close();
  }
}
