import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Debian's `chromium` for the browser tests (driven by playwright-core, which brings no browser):
 * CHROMIUM_PATH, else `chromium` on the PATH. `.ci/run` installs the package when it is missing.
 */
export function chromiumPath(): string | undefined {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) return existsSync(configured) ? configured : undefined;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * `describe` for tests that need a real browser. Without one: with CI=true the suite fails loudly;
 * otherwise it is skipped with the reason printed.
 */
export function describeWithChromium(name: string, body: (executablePath: string) => void): void {
  const path = chromiumPath();
  if (path) return describe(name, () => body(path));
  const reason = process.env.CHROMIUM_PATH
    ? `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} does not exist`
    : "no `chromium` on the PATH; install Debian's package (apt-get install chromium) or set CHROMIUM_PATH";
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs Chromium (CI=true)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  process.stderr.write(`\n[chromium] SKIPPED "${name}": ${reason}\n`);
  describe.skip(name, () => body(''));
}
