import { ApiError, getJson, session } from './api';
import { clear, h, showError, statusLine } from './dom';
import { churnView } from './views/churn';
import { customerView } from './views/customer';
import { journeyView } from './views/journey';
import { opsView } from './views/ops';
import { overviewView } from './views/overview';

interface Me {
  keyId: string;
  name: string;
  roles: string[];
}

interface View {
  id: string;
  title: string;
  role: 'analyst' | 'ops';
  render(root: HTMLElement): void;
}

/** The views, each shown only to a key holding its role (the API refuses the rest anyway). */
const VIEWS: View[] = [
  { id: 'overview', title: 'Overview', role: 'analyst', render: overviewView },
  { id: 'churn', title: 'Churn risk', role: 'analyst', render: churnView },
  { id: 'journey', title: 'Journey', role: 'analyst', render: journeyView },
  { id: 'customer', title: 'Customer', role: 'analyst', render: customerView },
  { id: 'operations', title: 'Operations', role: 'ops', render: opsView },
];

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;

function signInForm(message?: string): void {
  clear(nav);
  clear(who);
  clear(main);
  const key = h('input', { id: 'api-key', name: 'api-key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = statusLine();
  if (message) showError(status, message);
  const form = h(
    'form',
    { id: 'sign-in', class: 'sign-in', 'aria-labelledby': 'sign-in-h' },
    h('h2', { id: 'sign-in-h' }, 'Sign in'),
    h(
      'p',
      {},
      'Paste an API key with the role analyst (and ops for the Operations view). It is kept in this tab only, until you close it or sign out.',
    ),
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), key),
    h('button', { type: 'submit' }, 'Sign in'),
    status,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void signIn(key.value.trim(), status);
  });
  main.append(form);
  key.focus();
}

async function signIn(key: string, status: HTMLElement): Promise<void> {
  try {
    const me = await getJson<Me>('/v1/me', undefined, key);
    session.save(key);
    start(me);
  } catch (e) {
    const message = e instanceof ApiError && e.status === 401 ? `The key was refused: ${e.message}.` : e;
    showError(status, message instanceof Error ? message.message : String(message));
  }
}

let current: Me | undefined;

function start(me: Me): void {
  current = me;
  const allowed = VIEWS.filter((v) => me.roles.includes(v.role));
  clear(nav);
  nav.append(
    h(
      'ul',
      {},
      allowed.map((v) => h('li', {}, h('a', { href: `#${v.id}`, id: `nav-${v.id}` }, v.title))),
    ),
  );
  clear(who);
  const signOut = h('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => {
    session.clear();
    current = undefined;
    history.replaceState(null, '', location.pathname);
    signInForm();
  });
  who.append(h('span', {}, `Key “${me.name}” (${me.roles.join(', ')})`), ' ', signOut);
  if (!allowed.length) {
    clear(main);
    main.append(
      h(
        'p',
        { class: 'status error', role: 'alert' },
        'This key holds neither the analyst nor the ops role: there is nothing to show. Ask for a key with the analyst role.',
      ),
    );
    return;
  }
  route();
}

/** The view named in the fragment (#overview...): no data ever goes in the URL, only a view name. */
function route(): void {
  if (!current) return;
  const allowed = VIEWS.filter((v) => current!.roles.includes(v.role));
  const wanted = location.hash.slice(1);
  const view = allowed.find((v) => v.id === wanted) ?? allowed[0];
  for (const a of nav.querySelectorAll('a')) {
    if (a.id === `nav-${view.id}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  clear(main);
  const heading = h('h2', { id: 'view-title', tabindex: -1 }, view.title);
  const root = h('section', { id: `view-${view.id}`, class: 'view', 'aria-labelledby': 'view-title' }, heading);
  main.append(root);
  document.title = `${view.title} · CEM dashboard`;
  view.render(root);
  // keyboard and screen-reader users land on the new view's heading
  if (wanted) heading.focus();
}

window.addEventListener('hashchange', route);

async function boot(): Promise<void> {
  const key = session.key();
  if (!key) return signInForm();
  try {
    start(await getJson<Me>('/v1/me'));
  } catch (e) {
    session.clear();
    signInForm(e instanceof ApiError && e.status === 401 ? 'The saved key is no longer valid: sign in again.' : String(e));
  }
}

void boot();
