import { addContacts, type ReasonedContact } from './repeat-contacts';

const DAY = 86_400_000;
const slices = { channel: 'phone', source: 's', segment: 'none', agent: '(none)', category: '(none)', segmentIds: [] };
const contact = (day: string, position: number, reason = 'billing'): ReasonedContact => ({
  occurredAt: `2026-03-${day}T10:00:00Z`,
  position,
  reason,
  slices,
  repeat: false,
});
const marks = (history: ReasonedContact[]) => history.map((c) => `${c.occurredAt.slice(8, 10)}:${c.reason}:${c.repeat ? 'R' : '-'}`);

describe('repeat contacts', () => {
  it('marks a contact with the same reason at most the window after another; other reasons and older ones are not repeats', () => {
    const history: ReasonedContact[] = [];
    expect(addContacts(history, [contact('01', 1)], 7 * DAY)).toEqual([]);
    expect(addContacts(history, [contact('08', 2)], 7 * DAY).map((c) => c.position)).toEqual([2]); // exactly 7 days: a repeat
    expect(addContacts(history, [contact('09', 3, 'delivery')], 7 * DAY)).toEqual([]);
    expect(addContacts(history, [contact('20', 4)], 7 * DAY)).toEqual([]); // 12 days after the 8th
    expect(marks(history)).toEqual(['01:billing:-', '08:billing:R', '09:delivery:-', '20:billing:-']);
  });

  it('a late contact makes a later one a repeat (counted in the later one), and is a repeat itself when one came before it', () => {
    const history: ReasonedContact[] = [];
    addContacts(history, [contact('01', 1), contact('20', 2)], 7 * DAY);
    const newly = addContacts(history, [contact('15', 3)], 7 * DAY);
    expect(newly.map((c) => c.occurredAt.slice(8, 10))).toEqual(['20']);
    expect(marks(history)).toEqual(['01:billing:-', '15:billing:-', '20:billing:R']);
    expect(addContacts(history, [contact('05', 4)], 7 * DAY).map((c) => c.position)).toEqual([4]);
  });

  it('at the same instant the earlier log position comes first; merged histories are judged as one', () => {
    const history = [contact('10', 5)];
    const merged = [contact('10', 2), contact('16', 3)];
    const newly = addContacts(history, merged, 7 * DAY);
    expect(newly.map((c) => c.position).sort()).toEqual([3, 5]);
    expect(history.map((c) => [c.position, c.repeat])).toEqual([
      [2, false],
      [5, true],
      [3, true],
    ]);
  });
});
