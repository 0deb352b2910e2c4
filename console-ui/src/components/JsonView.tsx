import type { ReactNode } from "react";

export const REDACTED = "***";

/** A string with each `***` (a secret the console redacted, weir/secrets/redact.py) marked;
 * in keys too, since the recorder redacts a secret wherever it appears. */
function RedactedText({ text, className = "json-string" }: { text: string; className?: string }) {
  const parts = text.split(REDACTED);
  const shown: ReactNode[] = [];
  parts.forEach((part, index) => {
    if (index > 0) {
      shown.push(
        <mark key={`r${index}`} className="redacted" title="a secret, redacted by the console">
          {REDACTED}
        </mark>,
      );
    }
    if (part) shown.push(part);
  });
  return <span className={className}>&quot;{shown}&quot;</span>;
}

function Value({ value, indent }: { value: unknown; indent: number }): ReactNode {
  if (value === null || value === undefined) return <span className="json-null">null</span>;
  if (typeof value === "string") return <RedactedText text={value} />;
  if (typeof value === "number") return <span className="json-number">{value}</span>;
  if (typeof value === "boolean") return <span className="json-boolean">{String(value)}</span>;
  const pad = "  ".repeat(indent + 1);
  const end = "  ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return (
      <>
        {"[\n"}
        {value.map((item, index) => (
          <span key={index}>
            {pad}
            <Value value={item} indent={indent + 1} />
            {index < value.length - 1 ? ",\n" : "\n"}
          </span>
        ))}
        {end}]
      </>
    );
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  return (
    <>
      {"{\n"}
      {entries.map(([key, item], index) => (
        <span key={key}>
          {pad}
          <RedactedText text={key} className="json-key" />:{" "}
          <Value value={item} indent={indent + 1} />
          {index < entries.length - 1 ? ",\n" : "\n"}
        </span>
      ))}
      {end}
      {"}"}
    </>
  );
}

/** JSON as text (selectable, copyable) with redacted values shown as such. */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json" aria-label={label} tabIndex={0}>
      <Value value={value} indent={0} />
    </pre>
  );
}
