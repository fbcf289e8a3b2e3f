import { ConsoleLogger, type LogLevel } from '@nestjs/common';

const LEVELS: Record<string, LogLevel[]> = {
  silent: [],
  fatal: ['fatal'],
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  trace: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/** The JSON-lines logger every app uses, at the configured LOG_LEVEL. */
export function createLogger(level: string): ConsoleLogger {
  return new ConsoleLogger({ json: true, logLevels: LEVELS[level] ?? LEVELS.info });
}
