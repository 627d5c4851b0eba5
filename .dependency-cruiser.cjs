// Dependency rules for the layers in ../shared/DESIGN.md ("Architecture"):
//   src/http, src/ui, src/bootstrap  presentation and start-up (Fastify lives here)
//   src/<domain>                      services and commands: know no HTTP
//   src/platform                      config, db, keys, logging, metrics, cache: depends on no layer above it
// Run with `npm run depcheck`; `.ci/run` fails when a rule is broken.
// Tests (test/, src/**/*.test.ts) and bench/ are left out of the layer rules: they wire layers together on purpose.

/** Folders under src/ that are not domain folders; every other folder under src/ is a domain. */
const NOT_DOMAIN = 'http|ui|platform|bootstrap|generated';
const TESTS = ['\\.test\\.ts$', '^test/', '^bench/'];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-knows-no-http',
      comment:
        'A service in src/<domain> takes a plain context and returns plain results: it imports neither Fastify (fastify, @fastify/*, fastify-*), ' +
        'nor src/http, src/ui or src/bootstrap. Routes, login pages and the CLI translate its results into HTTP or text.',
      severity: 'error',
      from: { path: `^src/(?!(${NOT_DOMAIN})/)[^/]+/`, pathNot: TESTS },
      to: {
        path: ['^src/(http|ui|bootstrap)/', '(^|/)node_modules/(fastify|fastify-[^/]+|@fastify/[^/]+)/'],
      },
    },
    {
      name: 'platform-depends-on-no-layer-above',
      comment: 'src/platform sits below every other layer: it imports nothing from src/http, src/ui, src/bootstrap or a domain folder.',
      severity: 'error',
      from: { path: '^src/platform/', pathNot: TESTS },
      to: { path: `^src/(?!platform/|generated/)[^/]+/` },
    },
    {
      name: 'no-circular',
      comment: 'Modules that import each other, directly or through others, cannot be understood, tested or moved one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing is a typo or a missing dependency.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Only the project's own code; packages are leaves.
    includeOnly: { path: ['^src/', '^test/', '^bench/', '^scripts/', '^prisma\\.config\\.ts$', '^vitest\\.config\\.ts$', '(^|/)node_modules/'] },
    exclude: { path: ['^src/generated/'] },
    doNotFollow: { path: ['(^|/)node_modules/'] },
    // Type-only imports count: `import type { FastifyRequest }` ties a service to Fastify as much as a value import does.
    tsPreCompilationDeps: true,
    // NodeNext: `./x.js` in the source names `./x.ts`; dependency-cruiser resolves that by itself.
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
