import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  {
    // The core knows no SDK: adapters depend on the core, never the other way round.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['@slack/*', 'discord.js', 'twitter-api-v2', 'googleapis', 'flickr-sdk', 'sharp', 'keyv', '@keyv/*', 'pg', 'sqlite3', 'pino'], message: 'src/core imports no SDK; declare a port instead.' },
          { group: ['../bots/*', '../platforms/*', '../media/*', '../store/*', '../main.js', '../config.js'], message: 'src/core does not import adapters.' },
        ],
      }],
    },
  },
);
