/**
 * `npm run bench`: prints figures, asserts nothing.
 *
 * Slash-command acknowledgement: our app (dist/main.js, what `npm start` runs) and a bare
 * Bolt app that only acks, side by side in the same run, both against the same fake Slack,
 * both answering signed `/appeal help` requests: latency at a steady rate (p50/p99) and
 * throughput with a fixed number of requests in flight. Then the idle bot's peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { BOT_TOKEN, ROOT, SIGNING_SECRET, startApp, type RunningApp } from '../test/e2e/harness.js';
import { startFakeSlack } from '../test/fakes/slack.js';
import { signSlackRequest } from '../test/fakes/slack-signing.js';

const RATE = Number(process.env.BENCH_RATE ?? 200); // requests per second, steady
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const THROUGHPUT_SECONDS = Number(process.env.BENCH_THROUGHPUT_SECONDS ?? 8);

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function body(text: string): string {
  return new URLSearchParams({
    token: 'x', team_id: 'T0001', team_domain: 'bench', channel_id: 'CBENCH', channel_name: 'bench',
    user_id: 'UBENCH', user_name: 'bench', command: '/appeal', text, api_app_id: 'A0BENCH',
    is_enterprise_install: 'false', response_url: 'http://127.0.0.1:9/response', trigger_id: '1.2.3',
  }).toString();
}

function post(url: string, payload: string): Promise<number> {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload), ...signSlackRequest(SIGNING_SECRET, payload) };
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
        else resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function steady(url: string, text: string): Promise<{ p50: number; p99: number; max: number; n: number; errors: number }> {
  const payload = body(text);
  const latencies: number[] = [];
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const interval = 1000 / RATE;
  const start = performance.now();
  for (let i = 0; i < RATE * SECONDS; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(post(url, payload).then((ms) => void latencies.push(ms), () => void errors++));
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1)!, n: latencies.length, errors };
}

async function throughput(url: string, text: string): Promise<number> {
  const payload = body(text);
  let done = 0;
  const until = performance.now() + THROUGHPUT_SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < until) {
      await post(url, payload);
      done++;
    }
  }));
  return done / THROUGHPUT_SECONDS;
}

function peakRss(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function startBare(apiUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/bare-bolt.mjs')], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: apiUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (line: string) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`bare Bolt app exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/slack/events`, child };
}

const f = (n: number) => n.toFixed(2);

async function main(): Promise<void> {
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  const ours: RunningApp = await startApp({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl, APPROVERS: 'U1,U2', LOG_LEVEL: 'info' });
  const bare = await startBare(slack.apiUrl);

  await new Promise((r) => setTimeout(r, 3000));
  const idle = peakRss(ours.child.pid!);
  const bareIdle = peakRss(bare.child.pid!);

  console.log(`Slash-command ack benchmark: /appeal help, signed, ${RATE} req/s for ${SECONDS} s; throughput with ${CONCURRENCY} in flight for ${THROUGHPUT_SECONDS} s`);
  console.log(`node ${process.version}, ${os()}`);
  // warm both up
  await steady(ours.eventsUrl, 'help').catch(() => undefined);
  await steady(bare.url, 'help').catch(() => undefined);

  const rows: string[][] = [];
  for (const round of [1, 2]) {
    const a = await steady(ours.eventsUrl, 'help');
    const b = await steady(bare.url, 'help');
    const ta = await throughput(ours.eventsUrl, 'help');
    const tb = await throughput(bare.url, 'help');
    rows.push([`round ${round} loudhailer`, f(a.p50), f(a.p99), f(a.max), String(a.errors), ta.toFixed(0), (ta / tb).toFixed(2)]);
    rows.push([`round ${round} bare Bolt`, f(b.p50), f(b.p99), f(b.max), String(b.errors), tb.toFixed(0), '1.00']);
  }
  const status = await steady(ours.eventsUrl, 'status 7K3Q');
  rows.push(['loudhailer status <id> (store read)', f(status.p50), f(status.p99), f(status.max), String(status.errors), '', '']);
  console.table(rows.map(([name, p50, p99, max, errors, rps, ratio]) => ({ name, 'p50 ms': p50, 'p99 ms': p99, 'max ms': max, errors, 'req/s': rps, 'vs bare': ratio })));

  const after = peakRss(ours.child.pid!);
  console.log(`Idle bot RSS after start: ${f(idle.rssMb)} MB (peak ${f(idle.peakMb)} MB); bare Bolt idle: ${f(bareIdle.rssMb)} MB (peak ${f(bareIdle.peakMb)} MB)`);
  console.log(`Bot peak RSS after the load: ${f(after.peakMb)} MB`);

  bare.child.kill('SIGTERM');
  await ours.stop();
  await slack.close();
  agent.destroy();
}

function os(): string {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'cpu';
  return `${cpus}`;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
