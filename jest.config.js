/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, sourceMaps: 'inline' }] },
  // Inside jest, modules are resolved by jest: serve @azure/functions-core the way the local host does.
  moduleNameMapper: { '^@azure/functions-core$': '<rootDir>/src/local-host/worker/core-module.ts' },
  collectCoverageFrom: ['src/**/*.ts', 'functions/**/*.ts', '!src/**/cli.ts', '!**/*.d.ts'],
  coverageReporters: ['text-summary', 'lcov'],
  coverageThreshold: { global: { lines: 85 } },
  testTimeout: 60000,
};
