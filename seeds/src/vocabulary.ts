/** Word lists the generator draws from. ASCII only where the words end up in identifiers. */

export const FIRST_NAMES = [
  'Ana',
  'Bram',
  'Chloe',
  'Daan',
  'Emma',
  'Finn',
  'Greta',
  'Hugo',
  'Ines',
  'Jonas',
  'Kim',
  'Lars',
  'Mila',
  'Noah',
  'Olivia',
  'Pieter',
  'Quinn',
  'Ruth',
  'Sem',
  'Tess',
  'Umar',
  'Vera',
  'Willem',
  'Xena',
  'Yara',
  'Zoe',
  'Amira',
  'Luca',
  'Sofia',
  'Mateo',
  'Lena',
  'Felix',
  'Nora',
  'Elias',
  'Julia',
  'Marco',
  'Sara',
  'David',
  'Fatima',
  'Tom',
] as const;

export const LAST_NAMES = [
  'Jansen',
  'de Vries',
  'Bakker',
  'Visser',
  'Smit',
  'Meijer',
  'Mulder',
  'Bos',
  'Vos',
  'Peters',
  'Hendriks',
  'Dekker',
  'Brouwer',
  'Muller',
  'Schmidt',
  'Schneider',
  'Fischer',
  'Weber',
  'Martin',
  'Bernard',
  'Dubois',
  'Garcia',
  'Lopez',
  'Rossi',
  'Russo',
  'Smith',
  'Jones',
  'Taylor',
  'Brown',
  'Wilson',
  'Peeters',
  'Maes',
  'Claes',
  'Novak',
  'Kowalski',
  'Nielsen',
  'Hansen',
  'Berg',
] as const;

export const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example', 'post.example'] as const;

/** Mobile number prefixes that libphonenumber accepts as valid, with how many digits follow. */
export const PHONE_PLANS = [
  { country: 'NL', prefix: '+316', digits: 8, language: 'nl', city: 'Utrecht' },
  { country: 'DE', prefix: '+49151', digits: 8, language: 'de', city: 'Berlin' },
  { country: 'BE', prefix: '+3247', digits: 7, language: 'nl-BE', city: 'Antwerpen' },
  { country: 'FR', prefix: '+336', digits: 8, language: 'fr', city: 'Lyon' },
  { country: 'ES', prefix: '+346', digits: 8, language: 'es', city: 'Madrid' },
] as const;

export const STREETS = [
  'Kerkstraat',
  'Hauptstrasse',
  'Rue de la Paix',
  'Calle Mayor',
  'Stationsweg',
  'Dorpsstraat',
  'Lindenallee',
] as const;

export const PRODUCT_CATEGORIES = ['accessories', 'devices', 'books', 'music', 'home', 'garden', 'outdoor', 'kids'] as const;

export const CONTACT_REASONS = ['billing', 'technical', 'delivery', 'product-info', 'account', 'returns'] as const;

export const PLANS = [
  { plan: 'basic', monthly: 9.99 },
  { plan: 'plus', monthly: 19.99 },
  { plan: 'premium', monthly: 39.99 },
] as const;

export const CANCEL_REASONS = ['price', 'service-quality', 'switched-to-competitor', 'product-quality', 'no-longer-needed'] as const;

export const COMPLAINT_CATEGORIES = ['service-quality', 'product-quality', 'billing-error', 'delivery', 'after-sales'] as const;

export const CAMPAIGN_THEMES = ['newsletter', 'seasonal-sale', 'loyalty', 'cross-sell', 'product-launch'] as const;

export const WEB_PATHS = [
  '/',
  '/products',
  '/products/devices',
  '/offers',
  '/help',
  '/help/billing',
  '/account',
  '/account/orders',
  '/blog',
  '/stores',
] as const;

export const POSITIVE_COMMENTS = [
  'Quick and friendly help, thanks!',
  'The agent solved it in one call.',
  'Great service as always.',
  'Easy to order and fast delivery.',
  'Very happy with the product.',
] as const;

export const NEUTRAL_COMMENTS = [
  'It was ok.',
  'Took a while but it works now.',
  'Fine, nothing special.',
  'Delivery was a bit slow.',
] as const;

export const NEGATIVE_COMMENTS = [
  'I had to call three times for the same problem.',
  'Nobody solves my issue, I am thinking of leaving.',
  'Way too expensive for what you get.',
  'Waited almost an hour on the phone.',
  'My case is still open after weeks.',
  'The product broke again and support does not help.',
] as const;

export const COMPLAINT_TEXTS = [
  'Charged twice for the same month and still no refund.',
  'The replacement device has the same fault as the first one.',
  'Promised a call back three times, never happened.',
  'Delivery lost and the support chat keeps closing my ticket.',
] as const;
