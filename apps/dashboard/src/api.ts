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

/** Downloads an API answer (a CSV export) as a file, through a blob: URL: the key stays in the header. */
export async function download(path: string, params: Params, fileName: string): Promise<void> {
  const blob = await (await call(path, params, 'text/csv')).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
