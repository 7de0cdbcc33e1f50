/**
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
const THROUGHPUT_SECONDS = Number(process.env.BENCH_THROUGHPUT_SECONDS ?? 1.5);
const THROUGHPUT_ROUNDS = Number(process.env.BENCH_THROUGHPUT_ROUNDS ?? 12);

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

async function throughput(url: string, text: string): Promise<{ rps: number; n: number }> {
  const payload = body(text);
  let done = 0;
  const until = performance.now() + THROUGHPUT_SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < until) {
      await post(url, payload);
      done++;
    }
  }));
  return { rps: done / THROUGHPUT_SECONDS, n: done };
}

/** A process's CPU time (user + system) so far, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function peakRss(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function startBare(apiUrl: string, reply = ''): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/bare-bolt.mjs')], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: apiUrl, BARE_REPLY: reply },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (line: string) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`bare Bolt app exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/slack/events`, child };
}

const f = (n: number) => n.toFixed(2);

export async function slashBench(): Promise<void> {
  const slack = await startFakeSlack({ botToken: BOT_TOKEN });
  const ours: RunningApp = await startApp({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl, APPROVERS: 'U1,U2', LOG_LEVEL: 'info' });
  // Our reply to /appeal help, so the second baseline sends exactly the same bytes back.
  const helpReply = String(((await fetch(ours.eventsUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...signSlackRequest(SIGNING_SECRET, body('help')) }, body: body('help') }).then((r) => r.json())) as { text: string }).text);
  const bare = await startBare(slack.apiUrl);
  const bareSame = await startBare(slack.apiUrl, helpReply);

  await new Promise((r) => setTimeout(r, 3000));
  const idle = peakRss(ours.child.pid!);
  const bareIdle = peakRss(bare.child.pid!);

  console.log(`Slash-command ack benchmark: /appeal help, signed, ${RATE} req/s for ${SECONDS} s; throughput with ${CONCURRENCY} in flight, ${THROUGHPUT_ROUNDS} interleaved rounds of ${THROUGHPUT_SECONDS} s`);
  console.log(`Baselines: a bare Bolt app (HTTPReceiver) acking the same command with an empty ack, and one acking with the same ${helpReply.length}-character help text`);
  console.log(`node ${process.version}, ${os()}`);
  for (const url of [ours.eventsUrl, bare.url, bareSame.url]) await steady(url, 'help').catch(() => undefined); // warm-up

  const rows: string[][] = [];
  const targets = [
    { name: 'loudhailer', url: ours.eventsUrl, pid: ours.child.pid! },
    { name: 'bare Bolt, empty ack', url: bare.url, pid: bare.child.pid! },
    { name: 'bare Bolt, same reply', url: bareSame.url, pid: bareSame.child.pid! },
  ];
  // Latency at a steady rate, each target in turn.
  for (const t of targets) {
    const l = await steady(t.url, 'help');
    rows.push([t.name, f(l.p50), f(l.p99), f(l.max), String(l.errors)]);
  }
  const status = await steady(ours.eventsUrl, 'status 7K3Q');
  rows.push(['loudhailer, status <id> (a store read)', f(status.p50), f(status.p99), f(status.max), String(status.errors)]);
  console.table(rows.map(([name, p50, p99, max, errors]) => ({ name, 'p50 ms': p50, 'p99 ms': p99, 'max ms': max, errors })));

  // Throughput: this machine's CPU is shared and noisy, so many short runs, interleaved
  // (each round rotates who goes first), compared round by round; the server's own CPU
  // time per request is reported too.
  const perRound = new Map<string, Array<{ rps: number; cpuUs: number }>>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
    const order = [...targets.slice(round % 3), ...targets.slice(0, round % 3)];
    for (const t of order) {
      const c0 = cpuMs(t.pid);
      const r = await throughput(t.url, 'help');
      perRound.get(t.name)!.push({ rps: r.rps, cpuUs: ((cpuMs(t.pid) - c0) * 1000) / r.n });
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const ratio = (name: string) => median(perRound.get('loudhailer')!.map((o, i) => o.rps / perRound.get(name)![i]!.rps));
  console.table(targets.map((t) => ({
    name: t.name,
    'median req/s': median(perRound.get(t.name)!.map((o) => o.rps)).toFixed(0),
    'median CPU µs/req': median(perRound.get(t.name)!.map((o) => o.cpuUs)).toFixed(0),
    'loudhailer / this (median of rounds)': t.name === 'loudhailer' ? '' : ratio(t.name).toFixed(2),
  })));
  const p99 = Number(rows[0]![2]);
  console.log(`loudhailer: p99 ${f(p99)} ms at ${RATE} req/s (target < 50 ms); throughput ${ratio('bare Bolt, empty ack').toFixed(2)}x a bare Bolt app's empty ack, ${ratio('bare Bolt, same reply').toFixed(2)}x a bare Bolt app sending the same reply (target >= 0.9x)`);
  const after = peakRss(ours.child.pid!);
  console.log(`Idle bot RSS after start: ${f(idle.rssMb)} MB (peak ${f(idle.peakMb)} MB); bare Bolt idle: ${f(bareIdle.rssMb)} MB (peak ${f(bareIdle.peakMb)} MB)`);
  console.log(`Bot peak RSS after the load: ${f(after.peakMb)} MB`);

  bare.child.kill('SIGTERM');
  bareSame.child.kill('SIGTERM');
  await ours.stop();
  await slack.close();
  agent.destroy();
}

function os(): string {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'cpu';
  return `${cpus}`;
}

