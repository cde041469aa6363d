const shared = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    // jose ships only ES modules; jest's module system loads CommonJS, so its files are compiled too.
    '/node_modules/jose/.+\\.js$': ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
};

/**
 * Two tiers. `unit` (test/unit/) needs no server: pure modules, the workflows against stubbed activities
 * in a time-skipping test server of their own, activities in a mock context. `integration` (the rest of
 * test/) runs against the real servers globalSetup starts or reuses. `npm test` runs the first, then the second.
 * @type {import('jest').Config}
 */
module.exports = {
  projects: [
    { ...shared, displayName: 'unit', roots: ['<rootDir>/test/unit'] },
    {
      ...shared,
      displayName: 'integration',
      roots: ['<rootDir>/test'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/unit/'],
      globalSetup: '<rootDir>/test/globalSetup.ts',
      globalTeardown: '<rootDir>/test/globalTeardown.ts',
    },
  ],
  // Each integration file runs its own Temporal worker; two at a time fit a 2-core machine.
  maxWorkers: 2,
  testTimeout: 60_000,
  // A worker that outlives its file (a Temporal native handle) must not hang the run.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/support/summaryReporter.js'],
};
