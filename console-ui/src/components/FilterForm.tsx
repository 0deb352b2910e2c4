import { useEffect, useState, type FormEvent } from "react";
import { instantFromLocal, localFromInstant, STATUSES, type Filters } from "../filters";

/** The API's execution filters; applying them writes them to the URL (the page reads them back). */
export function FilterForm({ filters, onApply }: { filters: Filters; onApply: (next: Filters) => void }) {
  const [draft, setDraft] = useState<Filters>(filters);
  const shown = JSON.stringify(filters);
  useEffect(() => setDraft(JSON.parse(shown) as Filters), [shown]);
  const set = (key: keyof Filters) => (event: { target: { value: string } }) =>
    setDraft((old) => ({ ...old, [key]: event.target.value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onApply(draft);
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Filter executions">
      <label>
        Flow <input name="flow" value={draft.flow ?? ""} onChange={set("flow")} />
      </label>
      <label>
        Status{" "}
        <select name="status" value={draft.status ?? ""} onChange={set("status")}>
          <option value="">any</option>
          {STATUSES.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
          <option value="failed,cancelled,interrupted">did not succeed</option>
        </select>
      </label>
      <label>
        Trigger{" "}
        <input name="trigger" value={draft.trigger ?? ""} onChange={set("trigger")} placeholder="manual, cron, rest…" />
      </label>
      <label>
        Since{" "}
        <input
          name="since"
          type="datetime-local"
          value={localFromInstant(draft.since)}
          onChange={(event) => setDraft((old) => ({ ...old, since: instantFromLocal(event.target.value) }))}
        />
      </label>
      <label>
        Until{" "}
        <input
          name="until"
          type="datetime-local"
          value={localFromInstant(draft.until)}
          onChange={(event) => setDraft((old) => ({ ...old, until: instantFromLocal(event.target.value) }))}
        />
      </label>
      <label>
        Search <input name="q" type="search" value={draft.q ?? ""} onChange={set("q")} placeholder="text in input, result or error" />
      </label>
      <button type="submit">Apply</button>
      <button type="button" onClick={() => onApply({})}>
        Clear
      </button>
    </form>
  );
}
