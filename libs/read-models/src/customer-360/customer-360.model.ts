import type { CustomerModel } from '../kit/customer-states';
import { emptyCustomer360, type Customer360State } from './customer-360.state';
import { absorbCustomer } from './evolve';

/** The customer 360 on the customer-keyed kit: its empty state and how a merge combines two. */
export const customer360Model: CustomerModel<Customer360State> = {
  empty: emptyCustomer360,
  absorb(survivor, merged, merge) {
    absorbCustomer(survivor, merged, {
      kind: 'absorbed',
      mergeId: merge.mergeId,
      mergedIds: [merged.customerId],
      at: merge.at,
      position: merge.position,
      rule: merge.rule,
      survivorRule: merge.survivorRule,
      identifiers: [...merge.identifiers],
    });
    // the merged-away customer's own view says where its history went
    merged.merges.push({ kind: 'merged-into', survivorId: survivor.customerId, at: merge.at, position: merge.position });
  },
};
