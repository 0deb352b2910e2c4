import { useApi } from "../hooks";
import type { WaitList } from "../waits";
import { ErrorMessage } from "./ErrorMessage";
import { ResumeForm } from "./ResumeForm";

/** A waiting execution's open waits for a person, each with its resume form. */
export function WaitsSection({ executionId, onDone }: { executionId: string; onDone: () => void }) {
  const waits = useApi<WaitList>(`/executions/${encodeURIComponent(executionId)}/waits`);
  const open = (waits.data?.items ?? []).filter((wait) => wait.state === "pending");
  if (waits.error !== undefined) return <ErrorMessage error={waits.error} />;
  if (!waits.data || open.length === 0) return null;
  return (
    <section aria-label="Waiting for a person">
      <h2>Waiting for a person</h2>
      {open.map((wait) => (
        <ResumeForm key={wait.waitId} wait={wait} onDone={onDone} />
      ))}
    </section>
  );
}
