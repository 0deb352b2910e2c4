import { useEffect, useState, type FormEvent } from "react";
import { instantFromLocal, localFromInstant, STATUSES, type Filters } from "../filters";

/** A time filter: picked in local time, held (and sent) as an ISO 8601 instant. */
function InstantField({ name, label, draft, setDraft }: {
  name: "since" | "until";
  label: string;
  draft: Filters;
  setDraft: (update: (old: Filters) => Filters) => void;
}) {
  return (
    <label>
      {label}{" "}
      <input
        name={name}
        type="datetime-local"
        value={localFromInstant(draft[name])}
        onChange={(event) => setDraft((old) => ({ ...old, [name]: instantFromLocal(event.target.value) }))}
      />
    </label>
  );
}

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
      <InstantField name="since" label="Since" draft={draft} setDraft={setDraft} />
      <InstantField name="until" label="Until" draft={draft} setDraft={setDraft} />
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
