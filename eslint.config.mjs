// @ts-check
import eslint from '@eslint/js';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** The library's folders, lowest floor first (see `layer` below). */
const FLOORS = [
  'model',
  'errors',
  'common',
  'database',
  'decorators',
  'options',
  'events',
  'observability',
  'discovery',
  'engine',
  'execution',
  'schedule',
  'client',
  'worker',
  'cli',
  'testing',
  'dashboard',
  'health',
];
const ALL_FOLDERS = FLOORS;

/** The folders on the floors above `folder` (client, worker and cli share one). */
function above(folder) {
  const sameFloor = ['client', 'worker', 'cli'];
  const from = sameFloor.includes(folder)
    ? FLOORS.indexOf('cli') + 1
    : FLOORS.indexOf(folder) + 1;
  return FLOORS.slice(from);
}

/** `folder`'s files may not import from `forbidden` folders (nor the module's files). */
function layer(folder, forbidden) {
  return [
    {
      files: [`libs/underway/src/${folder}/**/*.ts`],
      ignores: ['**/*.spec.ts'],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                group: [
                  ...forbidden
                    .filter((f) => f !== folder)
                    .map((f) => `**/${f}/**`),
                  '**/underway.module*',
                  // The boot sequence sits between schedule/ and client/.
                  ...(FLOORS.indexOf(folder) <= FLOORS.indexOf('schedule')
                    ? ['**/underway.bootstrap*']
                    : []),
                ],
                message: `${folder}/ sits below these folders (eslint.config.mjs, the floors): move what it needs down, or invert the dependency.`,
              },
            ],
          },
        ],
      },
    },
  ];
}

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/**',
      'compat/**',
      '.data/**',
      'scripts/*.js',
      '*.js',
      '*.mjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unsafe-function-type': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      eqeqeq: ['error', 'always'],
      curly: ['error', 'all'],
      'no-restricted-imports': 'off',
    },
  },
  // The library's floors, lowest first: each folder imports only from the
  // floors below it (and within itself), so that there is no import cycle
  // between folders and an enqueue-only instance (`runtime: false`) never
  // needs worker code. model → errors → common → database, decorators →
  // options, events → observability → discovery → engine → execution →
  // schedule → client, worker, cli → testing → dashboard, health → the module.
  ...layer('model', ALL_FOLDERS),
  ...layer('errors', above('errors')),
  ...layer('common', above('common')),
  ...layer('database', above('database')),
  ...layer('decorators', above('decorators')),
  ...layer('options', above('options')),
  ...layer('events', above('events')),
  ...layer('observability', above('observability')),
  ...layer('discovery', above('discovery')),
  ...layer('engine', above('engine')),
  ...layer('execution', above('execution')),
  ...layer('schedule', above('schedule')),
  ...layer('client', [...above('client'), 'worker', 'cli']),
  ...layer('worker', [...above('worker'), 'client', 'cli']),
  ...layer('cli', [...above('cli'), 'client', 'worker']),
  ...layer('testing', above('testing')),
  {
    // No import cycle, between files either.
    files: ['libs/underway/src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createNodeResolver({ extensions: ['.ts', '.js', '.json'] }),
      ],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['test/**/*.ts', '**/*.spec.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
