/** On CI, the Redis and PostgreSQL store suites must run: a missing URL fails instead of skipping them. */
import { describe, expect, it } from 'vitest';

const ci = process.env.CI;
const onCi = ci !== undefined && ci !== '' && !['0', 'false'].includes(ci.toLowerCase());

describe.skipIf(!onCi)('CI runs every store backend', () => {
  it.each(['TEST_REDIS_URL', 'TEST_POSTGRES_URL'])('%s is set', (name) => {
    expect(process.env[name], `${name} must be set on CI, or the store tests for that backend are silently skipped`).toBeTruthy();
  });
});
