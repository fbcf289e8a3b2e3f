/** A horizon as the CLI and API take it: `90d`, `39w`, `6m` (30-day months) or a plain number of days. */
export function parseHorizonDays(text: string): number {
  const m = /^(\d{1,4})([dwm]?)$/.exec(text.trim());
  if (!m) throw new RangeError(`horizon "${text}": expected a number of days, weeks or months such as 90d, 39w or 6m`);
  const days = Number(m[1]) * (m[2] === 'w' ? 7 : m[2] === 'm' ? 30 : 1);
  if (days < 7 || days > 3650) throw new RangeError(`horizon "${text}": must be between 7 days and 10 years`);
  return days;
}
