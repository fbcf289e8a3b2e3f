// Three tiers by file suffix (see README, "Tests"): unit = pure logic, int = embedded SQLite
// store and in-process servers/doubles, e2e = real external servers (Kafka, PostgreSQL) or whole apps.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];
const moduleNameMapper = {
  '^@cem/(domain|event-store|identity|ingestion|config|read-models|platform|backfill|signals|kafka|privacy)$': '<rootDir>/libs/$1/src',
  '^@cem/(domain|event-store|identity|ingestion|config|read-models|platform|backfill|signals|kafka|privacy)/(.*)$':
    '<rootDir>/libs/$1/src/$2',
};
// @fastify/static (Swagger UI assets) pulls in ESM-only packages; Node 20 requires them natively,
// Jest does not, so swc turns those few into CommonJS for the tests.
const esmOnly = [
  'glob',
  'minimatch',
  'minipass',
  'path-scurry',
  'lru-cache',
  'balanced-match',
  'brace-expansion',
  'content-disposition',
  '@isaacs',
];
const common = {
  transform: { '^.+\\.ts$': swc, '^.+\\.m?js$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper,
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test', '<rootDir>/seeds'],
};
module.exports = {
  // Timeouts only catch a hang, they are not speed checks: int and e2e tests do real I/O and run on
  // shared 2-core machines, where Jest's 5 s default failed tests that were merely slow (load 19).
  // (testTimeout is a global option: Jest ignores it inside a project.)
  testTimeout: 60_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['**/*.unit.spec.ts'] },
    { ...common, displayName: 'int', testMatch: ['**/*.int.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['**/*.e2e.spec.ts'] },
  ],
};
