// What the graph's lines and marks mean, in words beside each sign: colour is never the only one.
import { OUTCOME_LABELS, type Outcome } from "../graph/model";

export function EdgeLegend() {
  return (
    <ul className="legend" aria-label="Transitions">
      <li><span className="swatch edge-next" aria-hidden="true">──</span> next (on success)</li>
      <li><span className="swatch edge-when" aria-hidden="true">- -</span> when, labelled with its condition</li>
      <li><span className="swatch edge-otherwise" aria-hidden="true">···</span> otherwise</li>
      <li><span className="swatch edge-error" aria-hidden="true">━ ━</span> on error</li>
    </ul>
  );
}

export function OutcomeLegend() {
  return (
    <ul className="legend" aria-label="Node outcomes">
      {(Object.keys(OUTCOME_LABELS) as Outcome[]).map((outcome) => (
        <li key={outcome}>
          <span className={`swatch flow-node outcome-${outcome}`} aria-hidden="true">
            {OUTCOME_LABELS[outcome].symbol}
          </span>{" "}
          {OUTCOME_LABELS[outcome].text}
        </li>
      ))}
    </ul>
  );
}
