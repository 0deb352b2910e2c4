import { useEffect, useRef } from "react";

/** A flow file with its line numbers (CSS counters would not be read out nor copied); the
 * lines `marked` (first, last; 0-based) stand out, scrolled into sight. */
export function YamlView({ text, label, marked }: { text: string; label: string; marked?: [number, number] | null }) {
  const lines = text.replace(/\n$/, "").split("\n");
  const view = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (marked) view.current?.querySelector(".yaml-line.marked")?.scrollIntoView?.({ block: "nearest" });
  }, [marked]);
  const isMarked = (i: number) => !!marked && i >= marked[0] && i <= marked[1];
  return (
    <pre className="yaml" aria-label={label} tabIndex={0} ref={view}>
      <code>
        {lines.map((line, i) => (
          <span className={isMarked(i) ? "yaml-line marked" : "yaml-line"} key={i}>
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
