import {
  bgNbdLogLikelihood,
  conditionalExpectedPurchases,
  expectedPurchases,
  fitBgNbd,
  hyp2f1,
  probabilityAlive,
  type BgNbdParams,
} from './bg-nbd';

/** The parameters Fader, Hardie & Lee (2005) estimated on the CDNOW sample (2,357 customers, weeks). */
const CDNOW: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

/** Mulberry32: a small seeded generator, so the simulation below is the same on every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** Gamma(shape, 1) by Marsaglia & Tsang (with the shape < 1 boost). */
function gamma(shape: number, u: () => number): number {
  if (shape < 1) return gamma(shape + 1, u) * Math.pow(u(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      const u1 = u();
      const u2 = u();
      x = Math.sqrt(-2 * Math.log(u1 || 1e-300)) * Math.cos(2 * Math.PI * u2);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const w = u();
    if (Math.log(w) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Trapezoid rule over a log-spaced grid of (0, inf): integrand f(y) dy = f(e^s) e^s ds. */
function integrateLog(f: (y: number) => number, from = -200, to = 8, steps = 60_000): number {
  const h = (to - from) / steps;
  let sum = 0;
  for (let i = 0; i <= steps; i++) {
    const y = Math.exp(from + i * h);
    sum += (i === 0 || i === steps ? 0.5 : 1) * f(y) * y;
  }
  return sum * h;
}
const lnGammaStirling = (z: number): number => {
  // independent of the library: shift up, then Stirling's series
  let shift = 0;
  while (z < 20) shift -= Math.log(z++);
  return shift + (z - 0.5) * Math.log(z) - z + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * z) - 1 / (360 * z ** 3) + 1 / (1260 * z ** 5);
};

/**
 * The likelihood by its definition, integrated numerically over the mixing distributions: given
 * lambda and p, L = (1-p)^x lambda^x e^{-lambda T} + [x > 0] p (1-p)^{x-1} lambda^x e^{-lambda t_x}.
 * Each term is a product of a lambda part and a p part, so two 1-D integrals each.
 */
function likelihoodByIntegration({ r, alpha, a, b }: BgNbdParams, x: number, tx: number, T: number): number {
  const lnGammaPdf = (l: number) => r * Math.log(alpha) + (r - 1) * Math.log(l) - alpha * l - lnGammaStirling(r);
  const lnBeta = lnGammaStirling(a) + lnGammaStirling(b) - lnGammaStirling(a + b);
  const betaPdf = (p: number) => Math.exp((a - 1) * Math.log(p) + (b - 1) * Math.log(1 - p) - lnBeta);
  // p over (0, 1) through p = 1 / (1 + e^-u), u over a wide range
  const integrateP = (g: (p: number) => number) => {
    const steps = 40_000;
    const h = 120 / steps;
    let sum = 0;
    for (let i = 0; i <= steps; i++) {
      const u = -60 + i * h;
      const p = 1 / (1 + Math.exp(-u));
      sum += (i === 0 || i === steps ? 0.5 : 1) * g(p) * betaPdf(p) * p * (1 - p);
    }
    return sum * h;
  };
  const lambdaPart = (t: number) => integrateLog((l) => Math.exp(x * Math.log(l) - l * t + lnGammaPdf(l)));
  let L = integrateP((p) => Math.pow(1 - p, x)) * lambdaPart(T);
  if (x > 0) L += integrateP((p) => p * Math.pow(1 - p, x - 1)) * lambdaPart(tx);
  return L;
}

describe('BG/NBD (Fader, Hardie & Lee 2005)', () => {
  it("reproduces the paper's worked example: E[Y(39) | x = 2, t_x = 30.43, T = 38.86] = 1.226 with the CDNOW parameters", () => {
    expect(conditionalExpectedPurchases(CDNOW, 39, { x: 2, tx: 30.43, T: 38.86 })).toBeCloseTo(1.226, 3);
  });

  it.each([
    [0, 0, 38.86],
    [1, 5.5, 30],
    [2, 30.43, 38.86],
    [7, 20, 39],
    [25, 36.2, 38.5],
  ])('log-likelihood of x=%d, t_x=%d, T=%d equals the integral of its definition over Gamma(r, alpha) x Beta(a, b)', (x, tx, T) => {
    const ll = bgNbdLogLikelihood(CDNOW, { x, tx, T });
    expect(ll).toBeCloseTo(Math.log(likelihoodByIntegration(CDNOW, x, tx, T)), 5);
  });

  it('E[X(t)] equals the mean count of a simulation of the purchase / drop-out process (200,000 customers)', () => {
    const u = rng(7);
    const t = 39;
    const n = 200_000;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const lambda = gamma(CDNOW.r, u) / CDNOW.alpha;
      const ga = gamma(CDNOW.a, u);
      const p = ga / (ga + gamma(CDNOW.b, u));
      let time = 0;
      for (;;) {
        time += -Math.log(1 - u()) / lambda;
        if (time > t) break;
        total++;
        if (u() < p) break;
      }
    }
    const simulated = total / n;
    expect(Math.abs(expectedPurchases(CDNOW, t) - simulated) / simulated).toBeLessThan(0.02);
  });

  it('P(alive) is 1 without repeat purchases and falls as the last purchase ages', () => {
    expect(probabilityAlive(CDNOW, { x: 0, tx: 0, T: 30 })).toBe(1);
    const recent = probabilityAlive(CDNOW, { x: 4, tx: 30, T: 32 });
    const old = probabilityAlive(CDNOW, { x: 4, tx: 5, T: 32 });
    expect(recent).toBeGreaterThan(0.8);
    expect(old).toBeLessThan(0.2);
  });

  it('hyp2f1 matches closed forms: 2F1(1,1;2;z) = -ln(1-z)/z and 2F1(a,b;b;z) = (1-z)^-a', () => {
    for (const z of [0.01, 0.3, 0.7, 0.95]) {
      expect(hyp2f1(1, 1, 2, z)).toBeCloseTo(-Math.log(1 - z) / z, 10);
      expect(hyp2f1(0.7, 2.5, 2.5, z)).toBeCloseTo(Math.pow(1 - z, -0.7), 10);
    }
    expect(() => hyp2f1(1, 1, 2, 1)).toThrow(/z must be in \[0, 1\)/);
  });

  it('fit: deterministic, a maximum of the likelihood (no coordinate improves it), refuses data without repeat purchases', () => {
    // summaries from the simulated process with the CDNOW parameters: first purchase at 0, T uniform in 27..39 weeks
    const u = rng(3);
    const summaries = Array.from({ length: 3_000 }, () => {
      const T = 27 + 12 * u();
      const lambda = gamma(CDNOW.r, u) / CDNOW.alpha;
      const ga = gamma(CDNOW.a, u);
      const p = ga / (ga + gamma(CDNOW.b, u));
      let time = 0;
      let x = 0;
      let tx = 0;
      if (u() >= p) {
        for (;;) {
          time += -Math.log(1 - u()) / lambda;
          if (time > T) break;
          x++;
          tx = time;
          if (u() < p) break;
        }
      }
      return { x, tx: Math.round(tx * 1e4) / 1e4, T: Math.round(T * 1e4) / 1e4 };
    });
    const fit = fitBgNbd(summaries);
    expect(fitBgNbd([...summaries].reverse())).toEqual(fit);
    const ll = (p: BgNbdParams) => summaries.reduce((s, c) => s + bgNbdLogLikelihood(p, c), 0);
    expect(fit.logLikelihood).toBeCloseTo(ll(fit.params), 6);
    for (const k of ['r', 'alpha', 'a', 'b'] as const) {
      for (const f of [0.99, 1.01]) expect(ll({ ...fit.params, [k]: fit.params[k] * f })).toBeLessThan(fit.logLikelihood + 1e-6);
    }
    expect(fit.params.r).toBeGreaterThan(0.1);
    expect(fit.params.r).toBeLessThan(0.5);
    expect(() => fitBgNbd([])).toThrow(/no customer with a purchase/);
    expect(() => fitBgNbd([{ x: 0, tx: 0, T: 10 }])).toThrow(/no customer with a repeat purchase/);
  });
});
