/** Injection token of the wired Platform (see libs/platform). */
export const PLATFORM = Symbol('PLATFORM');

/** Injection token of the admin API's read-model worker options (ReadModelWorkersOptions; tests hold a job with them). */
export const READ_MODEL_WORKERS = Symbol('READ_MODEL_WORKERS');
