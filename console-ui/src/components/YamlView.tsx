/** A flow file with its line numbers (CSS counters would not be read out nor copied). */
export function YamlView({ text, label }: { text: string; label: string }) {
  const lines = text.replace(/\n$/, "").split("\n");
  return (
    <pre className="yaml" aria-label={label} tabIndex={0}>
      <code>
        {lines.map((line, i) => (
          <span className="yaml-line" key={i}>
            <span className="line-number" aria-hidden="true">
              {i + 1}
            </span>
            {line}
            {"\n"}
          </span>
        ))}
      </code>
    </pre>
  );
}
