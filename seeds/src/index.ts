export * from './generator';
export * from './loader';
export { Rng, hashString, mix32 } from './prng';
