// Builds the dashboard page into dist/dashboard (part of `npm run build`): one script bundle (the
// page's TypeScript and uPlot), one stylesheet (ours and uPlot's) and index.html. Nothing is fetched
// at run time from anywhere but the API serving the page.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, '..', '..', 'dist', 'dashboard');
mkdirSync(outdir, { recursive: true });
const started = Date.now();
await build({
  // app.js and app.css
  entryPoints: [
    { in: join(here, 'src', 'main.ts'), out: 'app' },
    { in: join(here, 'src', 'styles.css'), out: 'app' },
  ],
  outdir,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'iife',
  target: ['es2022'],
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(join(here, 'static', 'index.html'), join(outdir, 'index.html'));
console.log(`dashboard: built into dist/dashboard in ${Date.now() - started} ms`);
