// jstat ships no type declarations; only the function used here is declared.
declare module 'jstat' {
  export const jStat: {
    /** natural logarithm of the gamma function */
    gammaln(x: number): number;
  };
}
