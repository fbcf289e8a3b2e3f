import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

const int = () => Transform(({ value }) => (value === undefined || value === '' ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value));
const str = () => Transform(({ value }) => (value === '' ? undefined : value));

/**
 * Every setting of the platform, read from environment variables and validated once at boot.
 * The README's configuration table lists the same names and defaults.
 */
export class AppConfig {
  @int() @IsInt() @Min(0) @Max(65535) PORT = 3000;
  @str() @IsString() HOST = '127.0.0.1';
  @str() @IsString() DATA_DIR = './data';

  @str() @IsIn(['sqlite', 'esdb']) EVENT_STORE: 'sqlite' | 'esdb' = 'sqlite';
  @str() @IsOptional() @Matches(/^esdb(\+discover)?:\/\//, { message: 'ESDB_CONNECTION_STRING must start with esdb:// or esdb+discover://' })
  ESDB_CONNECTION_STRING?: string;
  @str() @IsIn(['FULL', 'NORMAL']) SQLITE_SYNCHRONOUS: 'FULL' | 'NORMAL' = 'FULL';

  /** `embedded`: the API process also runs the projector; `external`: apps/projector does */
  @str() @IsIn(['embedded', 'external']) PROJECTOR: 'embedded' | 'external' = 'embedded';
  @str() @IsIn(['sqlite', 'postgres']) READ_STORE: 'sqlite' | 'postgres' = 'sqlite';
  @str() @IsOptional() @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// URL' }) DATABASE_URL?: string;

  /** `role[+role]:key` pairs, comma separated, for automated deployments; hashed at boot, never logged */
  @str() @IsOptional() @IsString() API_KEYS?: string;

  @int() @IsInt() @Min(1) @Max(10_000) INGEST_MAX_BATCH_EVENTS = 1000;
  @int() @IsInt() @Min(1024) @Max(64 * 1024 * 1024) INGEST_MAX_BODY_BYTES = 1024 * 1024;
  @int() @IsInt() @Min(0) @Max(86_400) MAX_FUTURE_SKEW_SECONDS = 300;
  @str() @IsOptional() @Matches(/^[A-Z]{2}$/, { message: 'DEFAULT_PHONE_REGION must be an ISO-3166 alpha-2 code such as NL' })
  DEFAULT_PHONE_REGION?: string;

  @str() @IsOptional() @IsString() KAFKA_BROKERS?: string;
  @str() @IsString() KAFKA_CLIENT_ID = 'cem-platform';
  @str() @IsString() KAFKA_GROUP_ID = 'cem-ingest';
  @str() @IsString() KAFKA_TOPIC = 'cem.touchpoints.v1';

  @str() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) LOG_LEVEL = 'info';
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const known = Object.keys(new AppConfig());
  const picked: Record<string, unknown> = {};
  for (const key of [...known, 'ESDB_CONNECTION_STRING', 'DATABASE_URL', 'API_KEYS', 'DEFAULT_PHONE_REGION', 'KAFKA_BROKERS']) {
    if (env[key] !== undefined) picked[key] = env[key];
  }
  const config = plainToInstance(AppConfig, picked, { exposeDefaultValues: true });
  const problems = validateSync(config).flatMap((e) => Object.values(e.constraints ?? {}).map((m) => `${e.property}: ${m}`));
  if (config.EVENT_STORE === 'esdb' && !config.ESDB_CONNECTION_STRING) problems.push('ESDB_CONNECTION_STRING: required when EVENT_STORE=esdb');
  if (config.READ_STORE === 'postgres' && !config.DATABASE_URL) problems.push('DATABASE_URL: required when READ_STORE=postgres');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
