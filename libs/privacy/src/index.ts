// Personal-data protection: per-customer data keys behind a port (embedded SQLite adapter), the one
// place events are encrypted and decrypted (EncryptingEventStore), and the configuration secrets.
export * from './cipher/data-key';
export * from './cipher/personal-paths';
export * from './keys/key-store';
export * from './keys/master-key';
export * from './keys/sqlite-key-store';
export * from './encrypting-event-store';
export * from './stored-values';
