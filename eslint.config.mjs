// The rules of docs/architecture.md's Layout, kept by the linter (npm test runs it before jest).
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

import fs from 'node:fs';

// Every folder of lib/ but the infrastructure is a feature, a new one included.
const FEATURES = fs
  .readdirSync('./lib', { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'platform')
  .map((entry) => `./lib/${entry.name}`);

// SQL runs only in a table family's store (docs/architecture.md, "Tables, their owners"): the knex
// handle called as a query builder, or raw SQL, anywhere else is an error. Opening a transaction is not.
const SQL_OUTSIDE_STORE = 'SQL runs only in a store module (lib/<feature>/store.ts): call a store function';
const HANDLE = '/^(db|trx|tx|knex)$/';

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'dist/', 'coverage/', 'bench/results/'] },
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './api', from: ['./activities', './worker'], message: 'the API starts workflows through lib/, it runs no activity or worker' },
            {
              target: './lib/platform',
              from: [...FEATURES, './workflows', './activities', './api', './worker'],
              message: 'lib/platform is the infrastructure: it imports no feature',
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['api/**/*.ts', 'activities/**/*.ts', 'lib/**/*.ts', 'workflows/**/*.ts', 'worker/**/*.ts'],
    ignores: ['lib/*/store.ts', 'lib/*/store/*.ts', 'lib/platform/db.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: `CallExpression[callee.type='Identifier'][callee.name=${HANDLE}]`, message: SQL_OUTSIDE_STORE },
        { selector: `CallExpression[callee.type='MemberExpression'][callee.property.name=${HANDLE}]`, message: SQL_OUTSIDE_STORE },
        { selector: 'CallExpression[callee.property.name=/^(raw|fromRaw|whereRaw|joinRaw)$/]', message: SQL_OUTSIDE_STORE },
      ],
    },
  },
  {
    // A function a reader takes in at once; generated code and migrations aside.
    files: ['api/**/*.ts', 'activities/**/*.ts', 'lib/**/*.ts', 'workflows/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }] },
  },
  {
    // Workflow code is replayed: it imports only the workflow SDK, its common types, other workflow files, and types.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@temporalio/(workflow|common)$)[^.]',
              allowTypeImports: true,
              message: 'workflow code imports only @temporalio/workflow, @temporalio/common, workflow files and types',
            },
            {
              group: ['**/lib/**', '**/activities/**', '**/api/**', '**/worker/**', '**/scripts/**'],
              allowTypeImports: true,
              message: 'workflow code imports only @temporalio/workflow, @temporalio/common, workflow files and types',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests read JSON answers as `any` and assert their shape themselves.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly' } },
  },
  prettier,
);
