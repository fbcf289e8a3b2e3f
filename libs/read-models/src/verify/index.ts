export * from './read-model-checksum';
export * from './verify-read-models';
