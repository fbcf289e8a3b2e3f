import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Issue 10, finding 12: the default install stays lean and the supported Node stays honest. */
const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean }>;
};

type Version = [number, number, number];
const parse = (v: string): Version => {
  const [a = 0, b = 0, c = 0] = v.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : 0));
  return [a, b, c];
};
const cmp = (x: Version, y: Version) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2];

/** Whether a Node version satisfies an engines range (the forms npm packages use: >=, >, <, <=, ^, ~, x, ||). */
export function admits(range: string, version: string): boolean {
  const v = parse(version);
  return range.split('||').some((alt) => {
    const comparators = alt
      .trim()
      .replace(/([<>=^~]+)\s+/g, '$1')
      .split(/\s+/)
      .filter(Boolean);
    return comparators.every((c) => {
      if (c === '*' || c === 'x' || c === 'X') return true;
      const m = /^(>=|<=|>|<|\^|~|=)?v?([\dxX*.]+)$/.exec(c);
      if (!m) return false;
      const [, op = '', raw] = m;
      const parts = raw.split('.').filter((p) => /^\d+$/.test(p)).length;
      const w = parse(raw);
      switch (op) {
        case '>=':
          return cmp(v, w) >= 0;
        case '>':
          return cmp(v, w) > 0;
        case '<':
          return cmp(v, w) < 0;
        case '<=':
          return cmp(v, w) <= 0;
        case '^':
          return v[0] === w[0] && cmp(v, w) >= 0;
        case '~':
          return v[0] === w[0] && (parts < 2 || v[1] === w[1]) && cmp(v, w) >= 0;
        default:
          return v[0] === w[0] && (parts < 2 || v[1] === w[1]) && (parts < 3 || v[2] === w[2]);
      }
    });
  });
}

describe('the install', () => {
  const lowest = /^>=\s*(\d+(\.\d+){0,2})$/.exec(pkg.engines.node)?.[1];

  it('declares the lowest supported Node as ">=X[.Y[.Z]]" and the README names it', () => {
    expect(lowest).toBeDefined();
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(`Node.js ${lowest}`);
  });

  it('holds no package whose engines refuse the lowest supported Node (npm ci warns EBADENGINE otherwise)', () => {
    const refused = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !admits((p.engines as { node: string }).node, lowest!))
      .map(([path, p]) => `${path} (${(p.engines as { node: string }).node})`);
    expect(refused).toEqual([]);
  });

  it('does not install the benchmark peer library nor a second native SQLite module by default; bench:peer installs it on demand', () => {
    const all = { ...pkg.dependencies, ...pkg.devDependencies };
    expect(Object.keys(all).filter((name) => name.startsWith('@event-driven-io/'))).toEqual([]);
    expect(Object.keys(lock.packages).filter((path) => /(^|\/)node_modules\/(sqlite3|@event-driven-io\/[^/]+)$/.test(path))).toEqual([]);
    expect(pkg.scripts['bench:peer']).toContain('npm install --no-save');
    expect(pkg.scripts['bench:peer']).toContain('@event-driven-io/emmett-sqlite');
  });

  it('reads engines ranges as npm does (the forms found in the lock)', () => {
    expect(admits('>=22', '20.19.0')).toBe(false);
    expect(admits('18 || 20 || >=22', '20.19.0')).toBe(true);
    expect(admits('^20.17.0 || >=22.9.0', '20.19.0')).toBe(true);
    expect(admits('^18.17.0 || >=20.5.0', '20.19.0')).toBe(true);
    expect(admits('>= 14', '20.19.0')).toBe(true);
    expect(admits('>=20.19 <21 || >=22.12', '20.19.0')).toBe(true);
    expect(admits('^20.20.0', '20.19.0')).toBe(false);
    expect(admits('20.x', '20.19.0')).toBe(true);
    expect(admits('*', '20.19.0')).toBe(true);
  });
});
