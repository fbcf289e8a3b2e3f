/** Minimal structured logger (JSON lines). Callers never pass payloads, keys or identifiers: they are personal data. */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
}

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

export function jsonLogger(level: LogLevel = 'info', component = 'kafka-ingest', write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger {
  const at = (l: LogLevel) => (message: string, meta?: Record<string, unknown>) => {
    if (LEVELS[l] > LEVELS[level]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: l, component, message, ...meta }));
  };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
