/**
 * `loudhailer doctor` (`npm run doctor`): checks every configured credential against its live
 * API and prints one line per platform. The checks live in ./doctor/ (run.ts orchestrates;
 * one file per platform; settings.ts reads the environment through loadConfig).
 */
export { runDoctor, DEFAULT_TIMEOUT_MS, type DoctorOptions, type DoctorOutput } from './doctor/run.js';
export { REQUIRED_BOT_SCOPES } from './doctor/slack-scopes.js';
