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

const LOAD_TESTS = 'test/consistency.test.ts';
const integration = {
  ...shared,
  roots: ['<rootDir>/test'],
  globalSetup: '<rootDir>/test/globalSetup.ts',
  globalTeardown: '<rootDir>/test/globalTeardown.ts',
};

/**
 * Three tiers. `unit` (test/unit/) needs no server: pure modules, the workflows against stubbed activities
 * in a time-skipping test server of their own, activities in a mock context. `integration` (the rest of
 * test/) runs against the real servers globalSetup starts or reuses. `load` (the consistency checker) runs against the same servers, alone. `npm test` runs them in that order.
 * @type {import('jest').Config}
 */
module.exports = {
  projects: [
    { ...shared, displayName: 'unit', roots: ['<rootDir>/test/unit'] },
    {
      ...integration,
      displayName: 'integration',
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/unit/', LOAD_TESTS],
    },
    // The consistency checker saturates both cores on purpose (two API replicas, two workers and eight
    // clients, with faults): beside it another file's answers can miss the service's own time bounds (an
    // upload's 10 s to open, Temporal's 3 s retry budget) and fail for want of CPU. It runs alone, after.
    { ...integration, displayName: 'load', testMatch: [`<rootDir>/${LOAD_TESTS}`] },
  ],
  // Each integration file runs its own Temporal worker; two at a time fit a 2-core machine.
  maxWorkers: 2,
  testTimeout: 60_000,
  // A worker that outlives its file (a Temporal native handle) must not hang the run.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/support/summaryReporter.js'],
};
