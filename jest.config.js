/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  globalSetup: '<rootDir>/test/globalSetup.ts',
  globalTeardown: '<rootDir>/test/globalTeardown.ts',
  // Each file runs its own Temporal worker; two at a time fit a 2-core machine.
  maxWorkers: 2,
  testTimeout: 60_000,
  // A worker that outlives its file (a Temporal native handle) must not hang the run.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/support/summaryReporter.js'],
};
