/**
 * The page's one way to the API: same-origin JSON calls with the key as a bearer header. The key
 * lives in sessionStorage (gone when the tab closes) and never in a URL, so it cannot leak through
 * history, the Referer header or server logs.
 */
const KEY_ITEM = 'cem.apiKey';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_ITEM),
  save: (key: string): void => sessionStorage.setItem(KEY_ITEM, key),
  clear: (): void => sessionStorage.removeItem(KEY_ITEM),
};

/** An answer the API refused, with its own message (the API names the field and the reason). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Params = Record<string, string | number | readonly string[] | undefined | null>;

function urlOf(path: string, params: Params = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) for (const v of value) query.append(name, v);
    else query.append(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function call(path: string, params: Params | undefined, accept: string, key = session.key()): Promise<Response> {
  if (!key) throw new ApiError(401, 'not signed in');
  const response = await fetch(urlOf(path, params), {
    headers: { authorization: `Bearer ${key}`, accept },
    // no cookie is ever needed: the key is the only credential
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = (await response.json()) as { message?: string; errors?: { field: string; reason: string }[] };
      message = body.message ?? message;
      if (body.errors?.length) message += `: ${body.errors.map((e) => `${e.field} ${e.reason}`).join('; ')}`;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

export async function getJson<T>(path: string, params?: Params, key?: string): Promise<T> {
  return (await call(path, params, 'application/json', key)).json() as Promise<T>;
}

export async function getText(path: string, params?: Params): Promise<string> {
  return (await call(path, params, 'text/plain, text/csv, */*')).text();
}

/**
 * Downloads a paged CSV export as one file: follows the X-Next-Cursor header page after page (the
 * header line once), up to `maxPages`, through a blob: URL (the key stays in the request header).
 * Returns the number of data lines and whether the export stopped at the page limit.
 */
export async function downloadCsv(
  path: string,
  params: Params,
  fileName: string,
  maxPages = 100,
): Promise<{ lines: number; truncated: boolean }> {
  const parts: string[] = [];
  let cursor: string | undefined;
  let lines = 0;
  let pages = 0;
  do {
    const response = await call(path, { ...params, format: 'csv', cursor }, 'text/csv');
    const text = await response.text();
    // the header is the first line (no field spans lines there); the rest is kept byte for byte
    const headerEnd = text.indexOf('\n') + 1;
    if (pages === 0) parts.push(text.slice(0, headerEnd));
    const body = text.slice(headerEnd);
    parts.push(body.endsWith('\n') || body === '' ? body : `${body}\r\n`);
    lines += body.split('\n').filter((l) => l.trim() !== '').length;
    cursor = response.headers.get('x-next-cursor') ?? undefined;
    pages++;
  } while (cursor && pages < maxPages);
  saveFile(new Blob(parts, { type: 'text/csv' }), fileName);
  return { lines, truncated: cursor !== undefined };
}

function saveFile(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
