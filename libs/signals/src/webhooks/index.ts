export * from './webhook-policy';
export * from './webhook-signature';
export * from './webhook.store';
export * from './webhook-dispatcher';
export * from './webhooks-runtime';
