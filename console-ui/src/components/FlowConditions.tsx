/** A flow's Kubernetes conditions (or the console's own Valid condition), one line each:
 * `Type=Status (Reason): message`, as `kubectl describe` would show them. */
export function FlowConditions({ conditions }: { conditions: Record<string, unknown>[] }) {
  if (conditions.length === 0) return null;
  const text = (value: unknown) => (typeof value === "string" || typeof value === "number" ? String(value) : "");
  return (
    <ul className="conditions" aria-label="Conditions">
      {conditions.map((condition, index) => {
        const type = text(condition.type) || "Condition";
        const reason = text(condition.reason);
        const message = text(condition.message);
        return (
          <li key={`${type}${index}`}>
            <span className="mono">
              {type}={text(condition.status) || "Unknown"}
            </span>
            {reason && reason !== type && ` (${reason})`}
            {message && `: ${message}`}
          </li>
        );
      })}
    </ul>
  );
}
