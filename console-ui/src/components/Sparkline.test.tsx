import { render, screen } from "@testing-library/react";
import { durationsSummary, Sparkline, sparkPoints } from "./Sparkline";

test("the line and its words: min, max and last of the recent durations", () => {
  render(<Sparkline values={[120, 2500, 40]} label="Recent durations of hello" />);
  const chart = screen.getByRole("img", { name: "Recent durations of hello: 3 runs: min 40 ms, max 2.50 s, last 40 ms" });
  const points = chart.querySelector("polyline")!.getAttribute("points")!.split(" ");
  expect(points).toHaveLength(3);
  const ys = points.map((p) => Number(p.split(",")[1]));
  expect(ys[1]).toBeLessThan(ys[0]); // the slowest run is drawn highest
  expect(ys[2]).toBeGreaterThan(ys[0]); // the fastest lowest
  expect(chart.querySelector("circle")).toHaveAttribute("cy", String(ys[2])); // the last run marked
});

test("one run is a dot in the middle, equal runs a flat line, none says so in words", () => {
  expect(sparkPoints([5])).toEqual([[48, 12]]);
  expect(new Set(sparkPoints([7, 7, 7]).map(([, y]) => y))).toEqual(new Set([12]));
  expect(durationsSummary([5])).toBe("1 run: min 5 ms, max 5 ms, last 5 ms");
  render(<Sparkline values={[]} label="Recent durations of x" />);
  expect(screen.getByText("no finished runs")).toBeInTheDocument();
  expect(screen.queryByRole("img")).not.toBeInTheDocument();
});
