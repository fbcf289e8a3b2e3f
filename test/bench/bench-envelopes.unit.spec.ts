import { emailOf, makeEnvelopes } from './ingest.bench';

describe("the ingest bench's envelopes", () => {
  it('give each customer its own email, in no order', () => {
    const emails = Array.from({ length: 1_000_000 }, (_, c) => emailOf(c));
    expect(new Set(emails).size).toBe(emails.length);
    // consecutive customers' emails are not sorted: about half of the neighbours are out of order
    const descending = emails.slice(1, 10_001).filter((e, i) => e < emails[i]).length;
    expect(descending).toBeGreaterThan(3_000);
    expect(descending).toBeLessThan(7_000);
    for (const e of emails.slice(0, 1000)) expect(e).toMatch(/^customer\.[0-9a-f]{8}@example\.com$/);
  });

  it("name a customer's events by its email, eventsPerCustomer events in a row", () => {
    const envelopes = makeEnvelopes(30, 10) as { customer: { identifiers: { kind: string; value: string }[] } }[];
    const emailAt = (i: number) => envelopes[i].customer.identifiers.find((id) => id.kind === 'email')!.value;
    expect(emailAt(0)).toBe(emailOf(0));
    expect(emailAt(9)).toBe(emailOf(0));
    expect(emailAt(10)).toBe(emailOf(1));
    expect(emailAt(29)).toBe(emailOf(2));
  });
});
