import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { post } from "../api";
import type { ExecutionDetail, NodeSummary, ReplayAccepted } from "../types";
import { ErrorMessage } from "./ErrorMessage";

/** The replay request: {} for a full replay; `from` a node; `input` the patched trigger payload. */
export function replayBody(fromNode: string, patch: boolean, inputText: string): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (fromNode) body.from = fromNode;
  if (patch) {
    try {
      body.input = JSON.parse(inputText);
    } catch (error) {
      throw new Error(`the patched input is not JSON: ${(error as Error).message}`);
    }
  }
  return body;
}

export function ReplayForm({ execution, nodes }: { execution: ExecutionDetail; nodes: NodeSummary[] }) {
  const navigate = useNavigate();
  const [fromNode, setFromNode] = useState("");
  const [patch, setPatch] = useState(false);
  const [inputText, setInputText] = useState(() => JSON.stringify(execution.trigger.payload ?? null, null, 2));
  const [state, setState] = useState<{ busy: boolean; error?: unknown }>({ busy: false });
  const names = [...new Set(nodes.map((node) => node.node))];

  const submit = (event: FormEvent) => {
    event.preventDefault();
    let body: Record<string, unknown>;
    try {
      body = replayBody(fromNode, patch, inputText);
    } catch (error) {
      setState({ busy: false, error });
      return;
    }
    setState({ busy: true });
    post<ReplayAccepted>(`/executions/${encodeURIComponent(execution.id)}/replay`, body).then(
      (accepted) => navigate(`/executions/${encodeURIComponent(accepted.id)}`),
      (error: unknown) => setState({ busy: false, error }),
    );
  };

  return (
    <form className="replay" onSubmit={submit} aria-label="Replay this execution">
      <label>
        From{" "}
        <select value={fromNode} onChange={(event) => setFromNode(event.target.value)}>
          <option value="">the start (full replay)</option>
          {names.map((name) => (
            <option key={name} value={name}>
              node {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={patch} onChange={(event) => setPatch(event.target.checked)} /> with a
        patched input
      </label>
      {patch && (
        <label className="editor">
          Input (JSON; <code>***</code> is a redacted secret: replace it or the replay sends <code>***</code>)
          <textarea
            value={inputText}
            onChange={(event) => setInputText(event.target.value)}
            rows={Math.min(20, Math.max(4, inputText.split("\n").length + 1))}
            spellCheck={false}
          />
        </label>
      )}
      <button type="submit" disabled={state.busy}>
        {state.busy ? "Replaying…" : fromNode ? `Replay from ${fromNode}` : "Replay"}
      </button>
      {state.error !== undefined && <ErrorMessage error={state.error} />}
    </form>
  );
}
