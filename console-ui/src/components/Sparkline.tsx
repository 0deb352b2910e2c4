// Recent durations at a glance: a line drawn in a small SVG, and the same facts in words (its
// accessible name and tooltip), so neither a screen reader nor a colour-blind eye misses them.
import { duration } from "../format";

const WIDTH = 96;
const HEIGHT = 24;
const PAD = 2;

/** The words a sparkline stands for: how many runs, the fastest, the slowest and the last. */
export function durationsSummary(values: number[]): string {
  if (values.length === 0) return "no finished runs";
  const last = values[values.length - 1];
  const runs = values.length === 1 ? "1 run" : `${values.length} runs`;
  return `${runs}: min ${duration(Math.min(...values))}, max ${duration(Math.max(...values))}, last ${duration(last)}`;
}

/** The polyline's points: oldest on the left, the longest duration at the top. */
export function sparkPoints(values: number[], width = WIDTH, height = HEIGHT): [number, number][] {
  const low = Math.min(...values);
  const span = Math.max(...values) - low;
  const step = values.length > 1 ? (width - 2 * PAD) / (values.length - 1) : 0;
  return values.map((value, i) => {
    const x = values.length > 1 ? PAD + i * step : width / 2;
    const y = span > 0 ? height - PAD - ((value - low) / span) * (height - 2 * PAD) : height / 2;
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
  });
}

export function Sparkline({ values, label }: { values: number[]; label: string }) {
  const summary = `${label}: ${durationsSummary(values)}`;
  if (values.length === 0) return <span className="muted">no finished runs</span>;
  const points = sparkPoints(values);
  const [lastX, lastY] = points[points.length - 1];
  return (
    <svg className="sparkline" role="img" aria-label={summary} width={WIDTH} height={HEIGHT} viewBox={`0 0 ${WIDTH} ${HEIGHT}`}>
      <title>{summary}</title>
      {points.length > 1 && <polyline points={points.map((p) => p.join(",")).join(" ")} fill="none" />}
      <circle cx={lastX} cy={lastY} r={2.5} />
    </svg>
  );
}
