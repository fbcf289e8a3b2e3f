/**
 * Nelder-Mead downhill simplex minimisation (Nelder & Mead 1965, with the standard coefficients:
 * reflection 1, expansion 2, contraction 0.5, shrink 0.5). Written here because the npm packages
 * that offer it either no longer load as CommonJS (fmin 0.0.4: an ES module with extension-less
 * imports) or pull a build tool chain in as runtime dependencies (fmin 0.0.2, optimization-js);
 * see docs/churn-risk.md. Deterministic: no randomness, ties broken by vertex order.
 */
export interface MinimizeResult {
  x: number[];
  fx: number;
  iterations: number;
  converged: boolean;
}

export function nelderMead(
  f: (x: readonly number[]) => number,
  x0: readonly number[],
  options: { maxIterations?: number; tolerance?: number; step?: number } = {},
): MinimizeResult {
  const n = x0.length;
  const maxIterations = options.maxIterations ?? 400 * n;
  const tolerance = options.tolerance ?? 1e-10;
  const step = options.step ?? 0.5;
  const value = (x: number[]) => {
    const v = f(x);
    return Number.isFinite(v) ? v : Number.POSITIVE_INFINITY;
  };
  let simplex: { x: number[]; fx: number }[] = [{ x: [...x0], fx: value([...x0]) }];
  for (let i = 0; i < n; i++) {
    const x = [...x0];
    x[i] += step;
    simplex.push({ x, fx: value(x) });
  }
  const combine = (a: number[], b: number[], t: number) => a.map((ai, i) => ai + t * (b[i] - ai));
  let iterations = 0;
  let converged = false;
  for (; iterations < maxIterations; iterations++) {
    simplex.sort((p, q) => p.fx - q.fx);
    const best = simplex[0];
    const worst = simplex[n];
    const spread = Math.abs(worst.fx - best.fx);
    const size = Math.max(...simplex.slice(1).map((p) => Math.max(...p.x.map((xi, i) => Math.abs(xi - best.x[i])))));
    if (spread <= tolerance * (Math.abs(best.fx) + tolerance) && size < 1e-7) {
      converged = true;
      break;
    }
    const centroid = new Array<number>(n).fill(0);
    for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) centroid[i] += simplex[k].x[i] / n;
    const reflected = combine(centroid, worst.x, -1);
    const fr = value(reflected);
    if (fr < best.fx) {
      const expanded = combine(centroid, worst.x, -2);
      const fe = value(expanded);
      simplex[n] = fe < fr ? { x: expanded, fx: fe } : { x: reflected, fx: fr };
      continue;
    }
    if (fr < simplex[n - 1].fx) {
      simplex[n] = { x: reflected, fx: fr };
      continue;
    }
    const outside = fr < worst.fx;
    const contracted = outside ? combine(centroid, reflected, 0.5) : combine(centroid, worst.x, 0.5);
    const fc = value(contracted);
    if (fc < Math.min(fr, worst.fx)) {
      simplex[n] = { x: contracted, fx: fc };
      continue;
    }
    simplex = simplex.map((p, k) => {
      if (k === 0) return p;
      const x = combine(best.x, p.x, 0.5);
      return { x, fx: value(x) };
    });
  }
  simplex.sort((p, q) => p.fx - q.fx);
  return { x: simplex[0].x, fx: simplex[0].fx, iterations, converged };
}
