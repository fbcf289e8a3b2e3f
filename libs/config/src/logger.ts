import type { LoggerService } from '@nestjs/common';
import type { LogLevelName } from './config';

export type LogFields = Record<string, unknown>;

/**
 * What product code logs through: a short fixed message plus fields. Fields carry kinds, counts,
 * names of topics/streams/read models and positions (topic/partition/offset, log positions), never
 * event payloads, keys, identifiers or error messages that quote them: those are personal data.
 */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

type Level = Exclude<LogLevelName, 'silent'>;
const RANK: Record<LogLevelName, number> = { silent: -1, fatal: 0, error: 1, warn: 2, info: 3, debug: 4, trace: 5 };

export interface LoggerOptions {
  /** LOG_LEVEL; lines below it are dropped (`silent`: none) */
  level: LogLevelName | string;
  /** the process or part that logs (`api`, `projector`, `kafka-ingest`, ...); Nest's context overrides it per line */
  component?: string;
  /**
   * Where info/debug/trace lines go: `stdout` (default; errors and fatals still go to stderr) or
   * `stderr` (everything, for processes whose stdout carries command output, like the CLI).
   */
  stream?: 'stdout' | 'stderr';
  /** replaces the stream (tests) */
  write?: (line: string, level: Level) => void;
}

const looksLikeStack = (s: string) => /\n\s+at /.test(s);

/**
 * The one logger of the platform: JSON lines `{time, level, component, message, ...fields}`.
 * It is both the platform's `Logger` and a Nest `LoggerService`, so the same instance serves
 * NestFactory, the read side and the plain-Node processes.
 */
export class JsonLogger implements Logger, LoggerService {
  private readonly max: number;
  private readonly out: (line: string, level: Level) => void;

  constructor(private readonly options: LoggerOptions) {
    this.max = RANK[options.level as LogLevelName] ?? RANK.info;
    const toStderr = options.stream === 'stderr';
    this.out =
      options.write ?? ((line, level) => (toStderr || RANK[level] <= RANK.error ? process.stderr : process.stdout).write(`${line}\n`));
  }

  /** the same logger under another component name */
  child(component: string): JsonLogger {
    return new JsonLogger({ ...this.options, component });
  }

  enabled(level: Level): boolean {
    return RANK[level] <= this.max;
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    this.emit('fatal', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }
  info(message: unknown, ...rest: unknown[]): void {
    this.emit('info', message, rest);
  }
  /** Nest's name for info */
  log(message: unknown, ...rest: unknown[]): void {
    this.emit('info', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  /** Nest's name for trace */
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('trace', message, rest);
  }

  private emit(level: Level, message: unknown, rest: unknown[]): void {
    if (!this.enabled(level)) return;
    let component = this.options.component;
    let text: string;
    let fields: LogFields = {};
    if (message instanceof Error) {
      text = message.name;
      fields.stack = message.stack;
    } else if (message !== null && typeof message === 'object') {
      const { msg, message: m, ...others } = message as LogFields;
      text = typeof msg === 'string' ? msg : typeof m === 'string' ? m : '';
      fields = others;
    } else {
      text = String(message);
    }
    // our calls: (message, fields); Nest's: (message, [stack,] context)
    const strings: string[] = [];
    for (const r of rest) {
      if (typeof r === 'string') strings.push(r);
      else if (r instanceof Error) fields.stack = r.stack;
      else if (r !== null && typeof r === 'object') fields = { ...fields, ...(r as LogFields) };
    }
    if (strings.length > 0) {
      const last = strings[strings.length - 1]!;
      if (strings.length > 1 || !looksLikeStack(last)) component = strings.pop();
      if (strings.length > 0) fields.stack = strings[0];
    }
    this.out(
      JSON.stringify({ time: new Date().toISOString(), level, ...(component ? { component } : {}), message: text, ...fields }),
      level,
    );
  }
}

/** The JSON-lines logger every process uses, at the configured LOG_LEVEL. */
export function createLogger(options: LoggerOptions | string): JsonLogger {
  return new JsonLogger(typeof options === 'string' ? { level: options } : options);
}

/** Drops everything (tests, library defaults). */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
