/**
 * Layering rules, checked by `npm run lint:deps` (part of `npm test`):
 * the domain is pure; libs never reach into apps; no app reaches into another app; adapters stay
 * behind their ports.
 */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'libs/domain holds events and pure decisions: no framework, no database, no other lib',
      severity: 'error',
      from: { path: '^libs/domain/src' },
      // the only third-party module the domain may use is a pure helper: libphonenumber-js (E.164)
      to: {
        pathNot: ['^libs/domain/src', '^node_modules/libphonenumber-js/'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'no-app-imports-another-app',
      comment: 'an app is one process: it imports its own files, libs and packages; code two apps need lives in a lib',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'event-store-knows-no-domain-service',
      comment: 'the event store lib is generic: it knows events, not customers or ingestion',
      severity: 'error',
      from: { path: '^libs/event-store/src', pathNot: '\\.spec\\.ts$' },
      to: { path: '^libs/(identity|ingestion|platform|read-models|backfill|kafka)/' },
    },
    {
      name: 'no-test-support-in-product',
      severity: 'error',
      from: { path: '^(apps|libs)/', pathNot: ['\\.spec\\.ts$', '/contract/'] },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^dist/|\\.spec\\.ts$)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
