// Lets a plain `node -r <this file> some.ts` child process run the repo's TypeScript (tests that
// must kill -9 a real consumer process): compiles .ts with @swc/core like Jest does and maps the
// @cem/* path aliases to libs/*/src.
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '../..');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const m = /^@cem\/([a-z-]+)(\/.*)?$/.exec(request);
  return resolveFilename.call(this, m ? path.join(root, 'libs', m[1], 'src', m[2] || '') : request, ...rest);
};
require.extensions['.ts'] = function (module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
