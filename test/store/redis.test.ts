import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { storeContract } from './contract.js';

const url = process.env.TEST_REDIS_URL;

describe.skipIf(!url)('Redis (TEST_REDIS_URL)', () => {
  storeContract('redis', () => url!);

  it('refuses wrong credentials without revealing the password', async () => {
    const secret = 'Sup3r-s3cret-redis-pw';
    const withAuth = url!.replace(/^(rediss?:\/\/)(?:[^@/]*@)?/, `$1nobody-${Date.now()}:${secret}@`);
    const error = await openStore(withAuth).then(
      async (store) => {
        await store.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/redis/i);
    expect(error!.message).not.toContain(secret);
    expect(error!.message).toContain('***');
  });
});
