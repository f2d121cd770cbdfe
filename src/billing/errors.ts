/** Errors of billing: price lists, budgets and the spending cap. */
import { NearbyError } from '../errors.ts';

/** Codes billing throws; callers match on these, never on messages. */
export type BillingErrorCode = 'BILLING_PRICES_INVALID' | 'BILLING_BUDGET_INVALID' | 'BUDGET_EXCEEDED';

export function pricesInvalid(detail: string): NearbyError {
  return new NearbyError('BILLING_PRICES_INVALID', `the price list is invalid: ${detail}`, {
    status: 400,
    hint: 'see `bin/nearby billing prices show` for the shape; every price is a number >= 0 in USD',
  });
}

export function budgetInvalid(value: string): NearbyError {
  return new NearbyError('BILLING_BUDGET_INVALID', `"${value}" is not a budget amount`, {
    status: 400,
    hint: 'give the monthly cap in USD, a number > 0, e.g. `budget set 25 --org ORG`',
  });
}

/** A start or wake refused because the org spent its cap for the month. */
export function budgetExceeded(org: string, capUsd: number): NearbyError {
  return new NearbyError(
    'BUDGET_EXCEEDED',
    `org ${org} reached its monthly budget of $${capUsd.toFixed(2)}`,
    {
      status: 402,
      hint: `an org admin can raise it (\`bin/nearby billing budget set AMOUNT --org ${org}\`) or clear it; apps come back at the start of next month`,
    },
  );
}
