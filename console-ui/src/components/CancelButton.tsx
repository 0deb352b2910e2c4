import { useState } from "react";
import { post } from "../api";
import type { CancelAccepted } from "../types";
import { ErrorMessage } from "./ErrorMessage";

export function CancelButton({ id, onDone }: { id: string; onDone: () => void }) {
  const [state, setState] = useState<{ busy: boolean; error?: unknown; asked?: boolean }>({ busy: false });
  const cancel = () => {
    setState({ busy: true });
    post<CancelAccepted>(`/executions/${encodeURIComponent(id)}/cancel`).then(
      () => {
        setState({ busy: false, asked: true });
        onDone();
      },
      (error: unknown) => setState({ busy: false, error }),
    );
  };
  return (
    <>
      <button type="button" className="danger" onClick={cancel} disabled={state.busy || state.asked}>
        {state.asked ? "Cancelling…" : "Cancel execution"}
      </button>
      {state.error !== undefined && <ErrorMessage error={state.error} />}
    </>
  );
}
