export * from './customer-log';
export * from './audit-trail';
export * from './audit-report';
