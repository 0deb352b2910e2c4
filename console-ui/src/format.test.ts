import { duration, percent } from "./format";

test("durations read in the unit that suits them; a sub-millisecond run did take time", () => {
  expect([0, 0.2, 0.6, 18, 999.4, 1234, 12_345, 125_000].map(duration)).toEqual([
    "0 ms", "< 1 ms", "1 ms", "18 ms", "999 ms", "1.23 s", "12.3 s", "2 min 5 s",
  ]);
  expect(duration(null)).toBe("—");
  expect(percent(0.756)).toBe("76 %");
  expect(percent(null)).toBe("—");
});
