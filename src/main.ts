#!/usr/bin/env node
/**
 * The process entry (`npm start`): reads `.env` if present, validates the configuration
 * (every problem on its own line, naming the variable; never a secret), starts the app and
 * shuts it down cleanly on SIGTERM/SIGINT.
 */
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from './config.js';
import { startApp, StartupError } from './app.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const [verb, sub] = process.argv.slice(2);
  const out = { write: (line: string) => process.stdout.write(`${line}\n`) };
  if (verb === 'audit' && sub === 'verify') {
    const { auditVerify } = await import('./cli/audit-verify.js');
    process.exit(await auditVerify(process.env, out));
  }
  if (verb === 'doctor') {
    const { runDoctor } = await import('./cli/doctor.js');
    process.exit(await runDoctor(process.env, out));
  }
  if (verb === 'auth') {
    const { runAuth } = await import('./cli/auth/index.js');
    process.exit(await runAuth(sub, process.env, { out, input: process.stdin }));
  }
  if (verb !== undefined) {
    process.stderr.write(`loudhailer: unknown command "${[verb, sub].filter(Boolean).join(' ')}". Commands: (none) runs the bot; "doctor" checks every credential; "auth youtube|flickr|x|facebook" gets tokens; "audit verify" checks the audit trail.\n`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`loudhailer: configuration problems:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

  let app;
  try {
    app = await startApp(config, logger);
  } catch (err) {
    if (err instanceof StartupError) {
      logger.fatal({ code: err.code }, err.message);
      process.stderr.write(`loudhailer: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`loudhailer: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
