// One lint setup for the whole monorepo. Import direction is enforced here, not by goodwill:
// protocol imports nothing of ours; engine only protocol; client never imports server-side packages.
import tseslint from 'typescript-eslint';

const restrict = (patterns) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: patterns.map((group) => ({
        group: [group],
        message: 'breaks the dependency direction (see DESIGN.md section 2)',
      })),
    },
  ],
});

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/.nx/**', 'data/**', '**/*.js', '**/*.mjs', '**/*.cjs'],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'use an as-const object and a same-named type' },
        {
          selector: "CallExpression[callee.object.name=/^(it|describe|test)$/][callee.property.name='only']",
          message: 'no focused tests',
        },
      ],
    },
  },
  {
    files: ['libs/protocol/src/**/*.ts'],
    rules: restrict(['@p3/*', 'node:*', 'uWebSockets.js', 'pg', 'ioredis', '@nats-io/*']),
  },
  {
    files: ['libs/engine/src/**/*.ts'],
    rules: {
      ...restrict([
        '@p3/!(protocol)',
        'node:*',
        'uWebSockets.js',
        'pg',
        'ioredis',
        '@nats-io/*',
        'pino',
        'prom-client',
      ]),
      // The engine is pure: time and randomness are injected (re-simulation must reproduce frames).
      'no-restricted-globals': [
        'error',
        'setTimeout',
        'setInterval',
        'setImmediate',
        'performance',
        'process',
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'the engine never reads the clock' },
        { object: 'Math', property: 'random', message: 'use the seeded random source' },
      ],
    },
  },
  {
    files: ['libs/client/src/**/*.ts'],
    rules: restrict([
      '@p3/runtime',
      '@p3/gateway',
      '@p3/simulator',
      '@p3/persister',
      '@p3/server',
      'uWebSockets.js',
      'pg',
      'ioredis',
      '@nats-io/*',
    ]),
  },
);
