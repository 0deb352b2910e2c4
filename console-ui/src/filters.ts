// The Executions page's filters, held in the URL so that every filter state is a link.

export const FILTER_KEYS = ["flow", "status", "trigger", "since", "until", "q"] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Partial<Record<FilterKey, string>>;

export const STATUSES = ["running", "waiting", "succeeded", "failed", "cancelled", "interrupted"] as const;

/** The given keys' non-blank values in a query string (a page's filters, from its URL). */
export function readSearch<K extends string>(search: URLSearchParams, keys: readonly K[]): Partial<Record<K, string>> {
  const values: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const value = search.get(key)?.trim();
    if (value) values[key] = value;
  }
  return values;
}

/** The query string of the given keys' non-blank values, in the keys' order. */
export function writeSearch<K extends string>(values: Partial<Record<K, string>>, keys: readonly K[]): URLSearchParams {
  const search = new URLSearchParams();
  for (const key of keys) {
    const value = values[key]?.trim();
    if (value) search.set(key, value);
  }
  return search;
}

export function filtersFromSearch(search: URLSearchParams): Filters {
  return readSearch(search, FILTER_KEYS);
}

export function searchFromFilters(filters: Filters): URLSearchParams {
  return writeSearch(filters, FILTER_KEYS);
}

/** The datetime-local input's value (local time) as the ISO 8601 instant the API takes. */
export function instantFromLocal(local: string): string {
  if (!local) return "";
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? local : date.toISOString();
}

/** An ISO 8601 instant as a datetime-local input's value, in local time. */
export function localFromInstant(instant: string | undefined): string {
  if (!instant) return "";
  const date = new Date(instant);
  if (Number.isNaN(date.getTime())) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}
