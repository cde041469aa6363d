// The import rules of ARCHITECTURE.md's Layout, kept by the linter (npm test runs it before jest).
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const FEATURES = ['./lib/uploads', './lib/assets', './lib/lifecycle', './lib/backups', './lib/events'];

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
