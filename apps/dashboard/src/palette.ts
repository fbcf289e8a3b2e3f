/**
 * Okabe & Ito's palette: eight colours told apart with every common colour-vision deficiency
 * (protanopia, deuteranopia, tritanopia). Lines also differ by dash, and every chart has a table.
 */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#000000', '#F0E442'] as const;
export const DASHES: readonly (number[] | undefined)[] = [undefined, [8, 4], [2, 3], [10, 3, 2, 3]];

/** Churn bands, low to critical: blue, sky blue, orange, vermillion (ordered light to strong). */
export const BAND_COLOURS: Record<string, string> = { low: '#0072B2', medium: '#56B4E9', high: '#E69F00', critical: '#D55E00' };
