import { useState, type FormEvent } from "react";
import { post } from "../api";
import { when } from "../format";
import { checkPayload, templateFor, type ResumeAccepted, type WaitView } from "../waits";
import { ErrorMessage } from "./ErrorMessage";

/** One open wait: what the person is asked, until when, and a JSON editor that resumes it. */
export function ResumeForm({ wait, onDone }: { wait: WaitView; onDone: () => void }) {
  const [text, setText] = useState(() => templateFor(wait.schema));
  const [state, setState] = useState<{ busy: boolean; problems?: string[]; error?: unknown; done?: ResumeAccepted }>({
    busy: false,
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const checked = checkPayload(text, wait.schema);
    if (checked.problems.length) {
      setState({ busy: false, problems: checked.problems });
      return;
    }
    setState({ busy: true });
    const path = `/executions/${encodeURIComponent(wait.executionId)}/waits/${encodeURIComponent(wait.waitId)}/resume`;
    post<ResumeAccepted>(path, { input: checked.payload }).then(
      (done) => {
        setState({ busy: false, done });
        onDone();
      },
      (error: unknown) => setState({ busy: false, error }),
    );
  };

  const label = `Resume node ${wait.node}`;
  return (
    <form className="resume" onSubmit={submit} aria-label={label}>
      <p>
        <strong>{wait.message ?? `Node ${wait.node} waits for a person`}</strong>
        <br />
        <span className="muted">
          Node {wait.node}; {wait.expiresAt ? `expires ${when(wait.expiresAt)}` : "no deadline"}
          {wait.onTimeout.length > 0 && ` (then ${wait.onTimeout.join(", ")})`}
        </span>
      </p>
      {wait.schema && (
        <details>
          <summary>What the payload must satisfy (JSON Schema)</summary>
          <pre>{JSON.stringify(wait.schema, null, 2)}</pre>
        </details>
      )}
      <label className="editor">
        Payload (JSON): the output of node {wait.node}
        <textarea
          value={text}
          onChange={(event) => setText(event.target.value)}
          rows={Math.min(20, Math.max(4, text.split("\n").length + 1))}
          spellCheck={false}
        />
      </label>
      <button type="submit" disabled={state.busy || state.done !== undefined}>
        {state.busy ? "Resuming…" : "Resume"}
      </button>
      {state.problems && (
        <div role="alert" className="error">
          <strong>Not sent:</strong>
          <ul>
            {state.problems.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </div>
      )}
      {state.error !== undefined && <ErrorMessage error={state.error} />}
      {state.done && <p role="status">Resumed by {state.done.resolvedBy}: the execution goes on.</p>}
    </form>
  );
}
