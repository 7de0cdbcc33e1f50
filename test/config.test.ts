import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, enabledNetworks, loadConfig, redactUrl, SECRET_VARIABLES } from '../src/config.js';

const minimal = {
  SLACK_BOT_TOKEN: 'xoxb-1-secret-bot-token',
  SLACK_SIGNING_SECRET: 'signing-secret-value',
  APPROVERS: 'U111,U222,S333',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(minimal);
    expect(c.port).toBe(3000);
    expect(c.storeUrl).toBe('sqlite://data/loudhailer.sqlite');
    expect(c.approval).toEqual({ approvers: ['U111', 'U222', 'S333'], required: 2, seniors: [], approveEmoji: 'white_check_mark', rejectEmoji: 'x' });
    expect(c.slack?.apiUrl).toBe('https://slack.com/api/');
    expect(c.reach.refreshSeconds).toBe(60);
    expect(c.reports.timeZone).toBe('UTC');
    expect(enabledNetworks(c)).toEqual([]);
  });

  it('reports every problem at once, one line per variable, naming what it expects', () => {
    const p = problems({ PORT: 'eighty', APPROVALS_REQUIRED: '0', STORE_URL: 'mongodb://x', TZ: 'Mars/Olympus', X_APP_KEY: 'k', REPORT_CRON: '0 8 * * *' });
    expect(p).toEqual(expect.arrayContaining([
      expect.stringMatching(/^PORT: expected a TCP port/),
      expect.stringMatching(/^SLACK_BOT_TOKEN: required/),
      expect.stringMatching(/^SLACK_SIGNING_SECRET: required/),
      expect.stringMatching(/^APPROVERS: required/),
      expect.stringMatching(/^APPROVALS_REQUIRED: expected/),
      expect.stringMatching(/^STORE_URL: expected/),
      expect.stringMatching(/^TZ: expected an IANA time zone/),
      expect.stringMatching(/^X_APP_SECRET: required when X_APP_KEY is set/),
      expect.stringMatching(/^X_ACCESS_TOKEN: required when/),
      expect.stringMatching(/^REPORT_CHANNEL: required when REPORT_CRON/),
    ]));
    for (const line of p) expect(line).toMatch(/^[A-Z_]+: /);
  });

  it('never echoes a secret value, even a malformed one', () => {
    const secretish = 'not-a-bot-token-SUPERSECRET';
    const p = problems({ ...minimal, SLACK_BOT_TOKEN: secretish, SLACK_APP_TOKEN: 'bad-SUPERSECRET2', STORE_URL: 'mongodb://user:SUPERSECRET3@host' });
    const all = p.join('\n');
    expect(all).toContain('SLACK_BOT_TOKEN');
    expect(all).not.toMatch(/SUPERSECRET/);
    const summary = JSON.stringify(describeConfig(loadConfig({ ...minimal, STORE_URL: 'postgres://u:SUPERSECRET4@db/x', X_APP_KEY: 'a', X_APP_SECRET: 'SUPERSECRET5', X_ACCESS_TOKEN: 'SUPERSECRET6', X_ACCESS_SECRET: 'SUPERSECRET7' })));
    expect(summary).not.toMatch(/SUPERSECRET|xoxb|signing-secret-value/);
    expect(redactUrl('redis://:pw@host:6379')).toBe('redis://:***@host:6379');
    expect(redactUrl('postgres://u:se/cret@h/db')).not.toContain('se/cret');
    expect(redactUrl('postgres://h/db?user=u&password=hunter2&sslmode=require')).toBe('postgres://h/db?user=u&password=***&sslmode=require');
    const logged = JSON.stringify(describeConfig(loadConfig({ ...minimal, STORE_URL: 'postgres://u:se/cret@h/db?password=hunter2' })));
    expect(logged).not.toMatch(/se\/cret|hunter2/);
  });

  it('no variable marked secret has its value in an error or the start-up summary', () => {
    const marked = (name: string) => `MARK-${name}-9f3a`;
    const env = Object.fromEntries([...SECRET_VARIABLES].map((n) => [n, marked(n)]));
    const out = problems({ ...env, APPROVERS: 'U1', PORT: 'x' }).join('\n'); // malformed on purpose
    const valid = { ...minimal, X_APP_KEY: 'k', X_APP_SECRET: marked('X_APP_SECRET'), X_ACCESS_TOKEN: marked('X_ACCESS_TOKEN'), X_ACCESS_SECRET: marked('X_ACCESS_SECRET'), FACEBOOK_PAGE_ID: '1', FACEBOOK_PAGE_TOKEN: marked('FACEBOOK_PAGE_TOKEN') };
    const summary = JSON.stringify(describeConfig(loadConfig(valid)));
    for (const name of SECRET_VARIABLES) {
      expect(out).not.toContain(marked(name));
      expect(summary).not.toContain(marked(name));
    }
  });

  it('enables a network when its credentials are set', () => {
    const c = loadConfig({ ...minimal, FACEBOOK_PAGE_ID: '12345', FACEBOOK_PAGE_TOKEN: 'EAAB', X_APP_KEY: 'a', X_APP_SECRET: 'b', X_ACCESS_TOKEN: 'c', X_ACCESS_SECRET: 'd', X_API_URL: 'http://127.0.0.1:9/2/' });
    expect(enabledNetworks(c)).toEqual(['x', 'facebook']);
    expect(c.networks.x?.apiUrl).toBe('http://127.0.0.1:9/2/');
  });

  it('Socket Mode needs no signing secret; emoji names lose their colons; empty values count as unset', () => {
    const c = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', APPROVERS: 'U1', APPROVE_EMOJI: ':thumbsup:', SENIOR_APPROVERS: '', PORT: '' });
    expect(c.slack?.appToken).toBe('xapp-1');
    expect(c.approval.approveEmoji).toBe('thumbsup');
    expect(c.approval.seniors).toEqual([]);
    expect(c.port).toBe(3000);
    expect(problems({ ...minimal, APPROVE_EMOJI: 'x' })).toEqual([expect.stringMatching(/^REJECT_EMOJI: expected an emoji different/)]);
  });
});

describe('rehearsal mode settings', () => {
  it('REHEARSAL=1: rehearsal on, no failures, its own default store; REHEARSAL_FAILURES a comma list of networks', () => {
    const c = loadConfig({ ...minimal, REHEARSAL: '1' });
    expect(c.rehearsal).toEqual({ failures: [] });
    expect(c.storeUrl).toBe('sqlite://data/rehearsal.sqlite');
    expect(loadConfig({ ...minimal, REHEARSAL: '1', STORE_URL: 'sqlite:///tmp/x.sqlite' }).storeUrl).toBe('sqlite:///tmp/x.sqlite');
    expect(loadConfig({ ...minimal, REHEARSAL: 'true', REHEARSAL_FAILURES: 'Flickr, x,,flickr' }).rehearsal).toEqual({ failures: ['x', 'flickr'] });
    expect(loadConfig({ ...minimal, REHEARSAL: '1', REHEARSAL_PUBLIC_URL: 'https://bot.example.org/rehearsal' }).rehearsal?.publicUrl).toBe('https://bot.example.org/rehearsal');
    for (const off of [{}, { REHEARSAL: '0' }, { REHEARSAL: 'false' }, { REHEARSAL: '' }]) {
      const c2 = loadConfig({ ...minimal, ...off });
      expect(c2.rehearsal).toBeUndefined();
      expect(c2.storeUrl).toBe('sqlite://data/loudhailer.sqlite');
    }
  });

  it('with real credentials set too, rehearsal still wins: they are loaded (and validated) but the summary says every network is simulated', () => {
    const c = loadConfig({ ...minimal, REHEARSAL: '1', X_APP_KEY: 'a', X_APP_SECRET: 'SUPERSECRET5', X_ACCESS_TOKEN: 'SUPERSECRET6', X_ACCESS_SECRET: 'SUPERSECRET7' });
    expect(enabledNetworks(c)).toEqual(['x']);
    const summary = describeConfig(c);
    expect(summary.networks).toBe('all simulated (REHEARSAL=1)');
    expect(summary.rehearsal).toEqual({ failures: [], ignoredCredentials: ['x'] });
    expect(JSON.stringify(summary)).not.toMatch(/SUPERSECRET/);
  });

  it('REHEARSAL_FAILURES=myspace is refused with one clear line naming the networks', () => {
    expect(problems({ ...minimal, REHEARSAL: '1', REHEARSAL_FAILURES: 'myspace' })).toEqual([
      'REHEARSAL_FAILURES: expected a comma-separated list of x, youtube, flickr, facebook ("myspace" is not one)',
    ]);
    expect(problems({ ...minimal, REHEARSAL: '1', REHEARSAL_FAILURES: 'flickr,myspace,bebo' })).toEqual([
      'REHEARSAL_FAILURES: expected a comma-separated list of x, youtube, flickr, facebook ("myspace", "bebo" are not)',
    ]);
  });

  it('a malformed REHEARSAL, or its companions without it, are refused: someone who thinks they rehearse must not publish for real', () => {
    expect(problems({ ...minimal, REHEARSAL: 'maybe' })).toEqual([expect.stringMatching(/^REHEARSAL: expected 1 \(rehearsal mode: every network is simulated, nothing is published\) or 0$/)]);
    expect(problems({ ...minimal, REHEARSAL: 'maybe', REHEARSAL_FAILURES: 'x' })).toEqual([expect.stringMatching(/^REHEARSAL: expected/)]);
    expect(problems({ ...minimal, REHEARSAL_FAILURES: 'flickr' })).toEqual(['REHEARSAL_FAILURES: only with REHEARSAL=1 (without it every network is real and appeals are really published)']);
    expect(problems({ ...minimal, REHEARSAL: '0', REHEARSAL_PUBLIC_URL: 'https://x.example/rehearsal' })).toEqual(['REHEARSAL_PUBLIC_URL: only with REHEARSAL=1']);
    expect(problems({ ...minimal, REHEARSAL: '1', REHEARSAL_PUBLIC_URL: 'ftp://x' })).toEqual([expect.stringMatching(/^REHEARSAL_PUBLIC_URL: expected the http\(s\) address/)]);
  });
});
