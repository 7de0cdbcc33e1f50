/**
 * `npm run demo`: Loudhailer working on a fresh machine, with no accounts at all.
 *
 * The real app (dist/main.js) runs in rehearsal mode (REHEARSAL=1: every network is a
 * built-in simulator, nothing can go public) against a local chat workspace (the wire-level
 * Slack of the test suite, on 127.0.0.1). One appeal is played through the way a room would:
 * the commander drafts it, posts a still (a synthetic image made now, no real person) and a
 * short clip, two colleagues approve it, it goes out to the four simulated networks, reach
 * rises, a report is asked for, and the suspect is arrested so the appeal is withdrawn.
 * Then the thread is printed as a person would read it, with the public-side view's URL.
 *
 * `npm run demo -- --once` exits at the end instead of keeping the public side open.
 */
import sharp from 'sharp';
import { startFakeSlack, type FakeSlack, type StoredMessage } from '../test/fakes/slack.js';
import { startApp, type RunningApp } from '../test/e2e/harness.js';
import { makeVideo } from '../test/helpers/video.js';
import { plainSlack, renderMessage, renderThread } from './print.js';

const BOT_TOKEN = 'xoxb-demo-0000-local-workspace';
const SIGNING_SECRET = 'demo-signing-secret-not-a-real-one';
const CHANNEL = 'CDEMO0001';
const REPORTS = 'CDEMOREPS';
const PEOPLE = { UCMDR: 'Insp. Dana Okafor (commander)', UAPP1: 'Sgt. Priya Shah', UAPP2: 'Ch. Insp. Tom Reyes' } as const;
const once = process.argv.includes('--once');

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** A synthetic "CCTV still": a figure drawn from shapes, captioned as synthetic. */
async function syntheticStill(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">
  <rect width="640" height="480" fill="#2b3035"/>
  <rect x="0" y="380" width="640" height="100" fill="#3d444b"/>
  <circle cx="320" cy="150" r="55" fill="#8a9199"/>
  <rect x="255" y="215" width="130" height="180" rx="40" fill="#5f6b75"/>
  <text x="20" y="36" font-family="DejaVu Sans Mono, monospace" font-size="22" fill="#e8e8e8">CAM 04  2026-11-28 23:41:07</text>
  <text x="20" y="460" font-family="DejaVu Sans, sans-serif" font-size="20" fill="#ffcc00">SYNTHETIC IMAGE: NOT A REAL PERSON</text>
</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer();
}

async function main(): Promise<void> {
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  const names = new Map<string, string>([[slack.botUserId, 'Loudhailer'], ...Object.entries(PEOPLE)]);
  for (const [id, name] of Object.entries(PEOPLE)) slack.addUser(id, name);
  slack.addChannel(CHANNEL, 'op-lighthouse');
  slack.addChannel(REPORTS, 'command-team-reports');

  say('Loudhailer demo: rehearsal mode, a local chat workspace, no accounts.');
  const app = await startApp({
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    APPROVERS: 'UAPP1,UAPP2',
    REHEARSAL: '1',
    REACH_REFRESH_SECONDS: '10',
    REPORT_CHANNEL: REPORTS,
    TZ: 'Europe/London',
    LOG_LEVEL: 'info',
    ...(process.env.PORT ? { PORT: process.env.PORT } : {}),
  });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await app.stop().catch(() => undefined);
    await slack.close().catch(() => undefined);
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  try {
    await play(slack, app, names);
  } catch (err) {
    say(`\nThe demo stopped: ${err instanceof Error ? err.message : String(err)}`);
    say(app.stderr.join('').slice(-2000));
    await stop(1);
    return;
  }
  if (once) {
    await stop(0);
    return;
  }
  say(`\nThe public side is still open at ${app.url}/rehearsal — press Ctrl-C to stop.`);
}

async function play(slack: FakeSlack, app: RunningApp, names: Map<string, string>): Promise<void> {
  const step = (text: string) => say(`\n▶ ${text}`);
  const command = async (user: keyof typeof PEOPLE, text: string) => {
    const res = await slack.slashCommand(app.eventsUrl, SIGNING_SECRET, { text, userId: user, channelId: CHANNEL });
    const answer = ackText(res.text);
    if (answer !== '') say(`  (only ${names.get(user)} sees) ${plainSlack(answer, names).split('\n').join('\n  ')}`);
    return res;
  };
  const bot = () => slack.messages(CHANNEL).filter((m) => m.user === slack.botUserId);
  const thread = (rootTs: string) => slack.thread(CHANNEL, rootTs);
  const saidInThread = (rootTs: string, re: RegExp) => thread(rootTs).filter((m) => m.user === slack.botUserId && re.test(m.text));

  step(`${names.get('UCMDR')}: /appeal …`);
  await command('UCMDR', 'Appeal for witnesses: a man was seen leaving the jewellers on Bridge Street at 23:40 last night. Do you recognise him? Call 101 quoting the reference.');
  const root = await slack.waitFor(() => bot()[0], { description: 'the appeal card', timeoutMs: 20_000 });
  await slack.waitFor(() => (slack.message(CHANNEL, root.ts)?.reactions.length ?? 0) >= 2, { description: 'the card seeded with ✅ and ❌' });
  const id = /#([A-Z0-9]{4,8})/.exec(JSON.stringify(root.blocks ?? root.text))?.[1];
  if (!id) throw new Error('no appeal id on the card');
  say(`  The card is up: appeal #${id}.`);

  step(`${names.get('UCMDR')} posts a CCTV still and a short clip in the thread`);
  await slack.shareFiles(app.eventsUrl, SIGNING_SECRET, {
    user: 'UCMDR', channel: CHANNEL, threadTs: root.ts, text: 'CCTV from camera 4',
    files: [
      { name: 'cam04-still.jpg', bytes: await syntheticStill(), mimetype: 'image/jpeg' },
      { name: 'cam04-clip.mp4', bytes: await makeVideo({ container: 'mp4', seconds: 2, silent: true, faststart: true }), mimetype: 'video/mp4' },
    ],
  });
  const newest = () => thread(root.ts).filter((m) => m.user === slack.botUserId && (m.blocks?.length ?? 0) > 0 && m.ts !== root.ts).at(-1);
  const card = await slack.waitFor(() => {
    const c = newest();
    return c && /cam04-clip/.test(JSON.stringify(c.blocks)) ? c : undefined;
  }, { description: 'the card with the still and the clip', timeoutMs: 60_000 });
  await slack.waitFor(() => (slack.message(CHANNEL, card.ts)?.reactions.length ?? 0) >= 2, { description: 'the new card seeded' });

  step(`${names.get('UAPP1')} and ${names.get('UAPP2')} approve with ✅`);
  for (const user of ['UAPP1', 'UAPP2']) {
    await slack.react(app.eventsUrl, SIGNING_SECRET, { user, channel: CHANNEL, ts: card.ts, reaction: 'white_check_mark' });
  }
  for (const label of ['X', 'YouTube', 'Flickr', 'Facebook']) {
    await slack.waitFor(() => saidInThread(root.ts, new RegExp(`live on ${label}`))[0], { description: `live on ${label}`, timeoutMs: 60_000 });
  }
  say('  Published on X, YouTube, Flickr and Facebook (simulated).');

  step('Reach rises (the reach message is edited as the simulated views grow)');
  const reach = await slack.waitFor(() => saidInThread(root.ts, /Reach of/)[0], { description: 'the reach message', timeoutMs: 40_000 });
  await slack.waitFor(() => ((slack.message(CHANNEL, reach.ts)?.edits.length ?? 0) >= 1 ? true : undefined), { description: 'the reach message edited', timeoutMs: 40_000 });
  say(`  ${plainSlack(slack.message(CHANNEL, reach.ts)!.text, names).split('\n').join('\n  ')}`);

  step(`${names.get('UAPP2')}: /appeal report`);
  const before = slack.uploads.length;
  await command('UAPP2', 'report');
  const report = await slack.waitFor(() => slack.uploads.slice(before).find((u) => u.completed), { description: 'the report', timeoutMs: 30_000 });
  say(`  📊 ${report.filename} (${report.bytes?.length ?? 0} bytes), with:\n  ${plainSlack(report.initial_comment ?? '', names).split('\n').join('\n  ')}`);

  step(`The suspect is arrested: ${names.get('UCMDR')}: /appeal withdraw ${id} suspect arrested`);
  await command('UCMDR', `withdraw ${id} suspect arrested`);
  await slack.waitFor(() => saidInThread(root.ts, /withdrawn everywhere/)[0], { description: 'withdrawn everywhere', timeoutMs: 60_000 });

  say('\n──────────── The thread, as the room reads it ────────────\n');
  say(renderThread(slack, CHANNEL, root.ts, names));
  say('\n──────────── The report, in the channel ────────────\n');
  for (const m of [...slack.messages(REPORTS), ...slack.messages(CHANNEL).filter((x) => x.upload && !x.thread_ts)] as StoredMessage[]) say(renderMessage(m, names));
  say(`\nPublic side (what the public would have seen, now withdrawn): ${app.url}/rehearsal`);
}

/** A slash command's acknowledgement: Bolt answers JSON ({ text }) or plain text. */
function ackText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { text?: unknown };
    return typeof parsed.text === 'string' ? parsed.text : '';
  } catch {
    return body.trim();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
