/**
 * A tiny element builder. Text always goes in as text nodes (never innerHTML), so data from the API
 * cannot inject markup; no inline style or handler attribute is ever written (the CSP forbids them).
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** A labelled <select>: the label is tied to the control (for and id) for screen readers. */
export function select(
  id: string,
  label: string,
  options: readonly (string | [string, string])[],
  value: string,
): { field: HTMLElement; control: HTMLSelectElement } {
  const control = h(
    'select',
    { id, name: id },
    options.map((o) => {
      const [v, text] = typeof o === 'string' ? [o, o] : o;
      return h('option', { value: v, selected: v === value }, text);
    }),
  );
  return { field: h('div', { class: 'field' }, h('label', { for: id }, label), control), control };
}

export function input(id: string, label: string, attrs: Attrs): { field: HTMLElement; control: HTMLInputElement } {
  const control = h('input', { id, name: id, ...attrs });
  return { field: h('div', { class: 'field' }, h('label', { for: id }, label), control), control };
}

/** A status line read out by screen readers when it changes (loading, errors). */
export function statusLine(): HTMLElement {
  return h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
}

export function showError(el: HTMLElement, error: unknown): void {
  el.textContent = error instanceof Error ? error.message : String(error);
  el.classList.add('error');
}

export function showStatus(el: HTMLElement, text: string): void {
  el.textContent = text;
  el.classList.remove('error');
}

/**
 * A view's loader, run again whenever its filters change: each run says "Loading…" and only the
 * latest run may draw (an earlier, slower answer is dropped: `current()` is false for it) or report
 * its error on the status line.
 */
export function latestOnly(status: HTMLElement, load: (current: () => boolean) => Promise<void>): () => void {
  let generation = 0;
  return () => {
    const mine = ++generation;
    const current = () => mine === generation;
    showStatus(status, 'Loading…');
    load(current).catch((e: unknown) => {
      if (current()) showError(status, e);
    });
  };
}

export const fmt = {
  number(v: number | null | undefined, digits = 1): string {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    return v.toLocaleString('en', { maximumFractionDigits: digits });
  },
  percent(v: number | null | undefined, digits = 1): string {
    return v === null || v === undefined ? '–' : `${(v * 100).toLocaleString('en', { maximumFractionDigits: digits })}%`;
  },
  date(iso: string | null | undefined): string {
    return iso ? iso.slice(0, 10) : '–';
  },
  dateTime(iso: string | null | undefined): string {
    return iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '–';
  },
};
