/** Failures throw (promptly, with the password redacted); they never become "not found". */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, redactUrl, StoreError } from '../../src/store/index.js';

const SECRET = 'Pa55-w0rd-n3ver-shown';

/** Resolves with what openStore + one call of each kind did, or fails the test if anything resolved a value. */
async function failureOf(url: string): Promise<{ error: Error; ms: number }> {
  const started = Date.now();
  try {
    const store = await openStore(url);
    try {
      const outcomes = await Promise.allSettled([store.get('k'), store.set('k', 1), store.claim('k')]);
      const rejected = outcomes.find((outcome) => outcome.status === 'rejected');
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
      return { error: (rejected as PromiseRejectedResult).reason as Error, ms: Date.now() - started };
    } finally {
      await store.close().catch(() => undefined);
    }
  } catch (error) {
    return { error: error as Error, ms: Date.now() - started };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'loudhailer-store-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('unreachable or unusable backends reject promptly', () => {
  it('Redis: connection refused', async () => {
    const { error, ms } = await failureOf(`redis://:${SECRET}@127.0.0.1:1`);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).toContain('redis://:***@127.0.0.1:1');
    expect(error.message).not.toContain(SECRET);
    expect(ms).toBeLessThan(5_000);
  });

  it('PostgreSQL: connection refused', async () => {
    const { error, ms } = await failureOf(`postgres://postgres:${SECRET}@127.0.0.1:1/test`);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).toContain('postgres://postgres:***@127.0.0.1:1/test');
    expect(error.message).not.toContain(SECRET);
    expect(ms).toBeLessThan(5_000);
  });

  it('SQLite: a path inside a regular file', async () => {
    const file = join(dir, 'regular-file');
    writeFileSync(file, 'not a directory');
    const { error, ms } = await failureOf(`sqlite://${join(file, 'store.sqlite')}`);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toContain(file);
    expect(ms).toBeLessThan(5_000);
  });

  it('SQLite: a path that is a directory', async () => {
    const { error } = await failureOf(`sqlite://${dir}`);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toMatch(/SQLITE_CANTOPEN|unable to open/i);
  });

  describe('a server that accepts connections but never answers', () => {
    let server: net.Server;
    let port: number;
    const sockets = new Set<net.Socket>();
    beforeAll(async () => {
      server = net.createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      port = (server.address() as net.AddressInfo).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((ok) => server.close(ok));
    });

    it('Redis and PostgreSQL give up within seconds instead of hanging', async () => {
      const [redis, postgres] = await Promise.all([
        failureOf(`redis://:${SECRET}@127.0.0.1:${port}`),
        failureOf(`postgres://postgres:${SECRET}@127.0.0.1:${port}/test`),
      ]);
      for (const { error, ms } of [redis, postgres]) {
        expect(error).toBeInstanceOf(StoreError);
        expect(error.message).not.toContain(SECRET);
        expect(ms).toBeLessThan(8_000);
      }
    }, 20_000);
  });
});

describe('STORE_URL', () => {
  it('refuses an unknown scheme, naming STORE_URL and the accepted schemes, without the password', async () => {
    const error = await openStore(`mysql://app:${SECRET}@db.example/loudhailer`).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/STORE_URL/);
    expect((error as Error).message).toMatch(/sqlite:\/\/.*redis:\/\/.*rediss:\/\/.*postgres:\/\/.*postgresql:\/\//);
    expect((error as Error).message).toContain('mysql://app:***@db.example/loudhailer');
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('refuses a bare path and an empty sqlite path', async () => {
    await expect(openStore('data/loudhailer.sqlite')).rejects.toThrow(/STORE_URL/);
    await expect(openStore('')).rejects.toThrow(/STORE_URL/);
    await expect(openStore('sqlite://')).rejects.toThrow(/STORE_URL/);
  });

  it('redacts passwords, including encoded and awkward ones', async () => {
    expect(redactUrl('redis://:pw@host:6379/0')).toBe('redis://:***@host:6379/0');
    expect(redactUrl('postgres://user:pw@host/db?sslmode=require')).toBe('postgres://user:***@host/db?sslmode=require');
    expect(redactUrl('rediss://user@host')).toBe('rediss://user@host');
    expect(redactUrl('postgresql://u:p@ss@host/db')).toBe('postgresql://u:***@host/db');
    expect(redactUrl('sqlite://data/loudhailer.sqlite')).toBe('sqlite://data/loudhailer.sqlite');
    expect(redactUrl('postgres://u:a/b@host/db')).not.toContain('a/b');

    const encoded = 'p%40ss%2Fw0rd';
    const error = await openStore(`postgres://postgres:${encoded}@127.0.0.1:1/test`).catch((e: unknown) => e as Error);
    expect((error as Error).message).not.toContain(encoded);
    expect((error as Error).message).not.toContain('p@ss/w0rd');
  });
});
