import { defineReadModel } from '../kit/read-model';
import { Customer360Projection } from './customer-360.projection';
import { customer360ContractQueries } from './customer-360.contract-queries';
import { Customer360Queries } from './customer-360.query';
import {
  CUSTOMER_360,
  CUSTOMER_360_SQL_VIEWS,
  CUSTOMER_360_TABLES,
  CUSTOMER_360_VERSION,
  customer360Migrations,
  type Customer360Tables,
} from './customer-360.schema';

/** The customer 360: one document per customer id, an identifier index and the timeline. */
export const customer360 = defineReadModel<Customer360Tables>()({
  name: CUSTOMER_360,
  version: CUSTOMER_360_VERSION,
  tables: CUSTOMER_360_TABLES,
  migrations: customer360Migrations,
  projection: Customer360Projection,
  queries: (db, { now, identifierIndex, storedValues }) => new Customer360Queries(db, now, identifierIndex, storedValues),
  contractQueries: customer360ContractQueries,
  sqlViews: CUSTOMER_360_SQL_VIEWS,
});

export * from './customer-360.model';
export * from './customer-360.projection';
export * from './customer-360.query';
export * from './customer-360.schema';
export * from './customer-360.state';
export * from './evolve';
export * from './lifecycle';
