import { useCallback, useEffect, useRef, useState } from "react";
import { useSearchParams } from "react-router";
import { query, request } from "../api";
import { ErrorMessage } from "../components/ErrorMessage";
import { ExecutionsTable } from "../components/ExecutionsTable";
import { FilterForm } from "../components/FilterForm";
import { filtersFromSearch, searchFromFilters, type Filters } from "../filters";
import { useEvents } from "../hooks";
import type { EventData, ExecutionPage, ExecutionSummary } from "../types";

export const PAGE_SIZE = 50;

/** The rows of ``page`` that ``shown`` does not hold yet. */
function unseen(shown: ExecutionSummary[], page: ExecutionSummary[]): ExecutionSummary[] {
  const known = new Set(shown.map((execution) => execution.id));
  return page.filter((execution) => !known.has(execution.id));
}

/** The newest page merged into what is shown: rows it has replace theirs, new ones go on top. */
export function mergeHead(shown: ExecutionSummary[], head: ExecutionSummary[]): ExecutionSummary[] {
  const fresh = new Map(head.map((execution) => [execution.id, execution]));
  return [...unseen(shown, head), ...shown.map((execution) => fresh.get(execution.id) ?? execution)];
}

export function ExecutionsPage() {
  const [search, setSearch] = useSearchParams();
  const filters = filtersFromSearch(search);
  const key = searchFromFilters(filters).toString();
  const [items, setItems] = useState<ExecutionSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);

  const pagePath = useCallback(
    (after: string | null) => `/executions${query({ ...filtersFromSearch(new URLSearchParams(key)), limit: PAGE_SIZE, cursor: after })}`,
    [key],
  );

  // One page: the first replaces what is shown, a later one (after a cursor) goes below it. An
  // answer for filters no longer shown is dropped.
  const fetchPage = useCallback(
    (after: string | null) => {
      const mine = generation.current;
      setLoading(true);
      request<ExecutionPage>(pagePath(after)).then(
        (page) => {
          if (mine !== generation.current) return;
          setItems((shown) => (after ? [...shown, ...unseen(shown, page.items)] : page.items));
          setCursor(page.nextCursor);
          setLoading(false);
        },
        (failure: unknown) => {
          if (mine !== generation.current) return;
          setError(failure);
          setLoading(false);
        },
      );
    },
    [pagePath],
  );

  useEffect(() => {
    generation.current += 1;
    setItems([]);
    setCursor(null);
    setError(undefined);
    fetchPage(null);
  }, [fetchPage]);

  const loadMore = () => cursor && fetchPage(cursor);

  // Live: an execution event asks the API for the newest page again (with the same filters, so
  // that what arrives matches them), at most once a second; so does each (re)connection, for
  // what started while the stream was not open.
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (pending.current && clearTimeout(pending.current)), []);
  const refreshHead = useCallback(() => {
    if (pending.current) return;
    const mine = generation.current;
    pending.current = setTimeout(() => {
      pending.current = null;
      request<ExecutionPage>(pagePath(null)).then(
        (page) => mine === generation.current && setItems((shown) => mergeHead(shown, page.items)),
        () => undefined, // the next event tries again; the table keeps what it has
      );
    }, 1000);
  }, [pagePath]);
  const onEvent = useCallback((event: EventData) => event.type === "execution" && refreshHead(), [refreshHead]);
  useEvents(query({ flow: filters.flow }), onEvent, error === undefined, refreshHead);

  const apply = (next: Filters) => setSearch(searchFromFilters(next));
  const filtered = key !== "";

  return (
    <section>
      <h1>Executions</h1>
      <FilterForm filters={filters} onApply={apply} />
      {error !== undefined && <ErrorMessage error={error} />}
      {!loading && error === undefined && items.length === 0 && (
        <div className="empty">
          {filtered ? (
            <p>No execution matches these filters. Widen them, or clear them to see every one.</p>
          ) : (
            <p>
              No executions yet. Run a flow (<code>weir run examples/hello/flow.yaml</code>, or{" "}
              <code>make demo</code>) and it appears here as it starts.
            </p>
          )}
        </div>
      )}
      {items.length > 0 && <ExecutionsTable items={items} />}
      <p aria-live="polite" className="muted">
        {loading ? "Loading executions…" : items.length > 0 ? `${items.length} shown` : ""}
      </p>
      {cursor && !loading && (
        <button type="button" onClick={loadMore}>
          Load more
        </button>
      )}
    </section>
  );
}
