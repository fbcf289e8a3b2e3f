export * from './signal.schema';
export * from './derive';
export * from './signal-state.store';
export * from './signal-publisher';
export * from './webhooks';
