// The web console end to end (issue 15's acceptance): a real `weir console` on a seeded store,
// headless Chromium, elements found by role, label and visible text. `make ui-e2e` runs it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { column, explain, launch, newPage, screenshot, seriousViolations, setControl, until, visible } from "./browser.mjs";
import { measureFirstLoad } from "./timing.mjs";
import { api, BOB_CORRECTED, newStore, removeStore, seedExamples, seedRuns, startConsole, weirRun } from "./weir.mjs";

/** About 200 executions in all: the Executions page's first load is measured over them. */
const HISTORY = 196;
const LONG = { timeout: 180_000 };

let seeded;
let weir;
let browser;

// The long history first, then the examples: the newest page shows them (and Bob's failure).
before(async () => {
  browser = await launch();
  seeded = await newStore();
  weir = await startConsole(seeded.store);
  await seedRuns(weir.url, HISTORY);
  Object.assign(seeded, await seedExamples(seeded.store));
}, LONG);

after(async () => {
  await browser?.close();
  await weir?.stop();
  await removeStore(seeded);
});

const executionsTable = (page) => page.getByRole("table", { name: /^Executions/ });
const statusIs = (text, status) => new RegExp(`\\b${status}\\b`, "i").test(text);
const filterForm = (page) => page.getByRole("form", { name: "Filter executions" });

// A control's accessible name begins with its label and, for one inside its label, goes on
// with its value ("Status any"): found by the name's first word.
const filter = (page, label) => filterForm(page).getByLabel(new RegExp(`^${label}\\b`));

async function applyFilters(page, values) {
  await explain(page, `filtering by ${JSON.stringify(values)}`, async () => {
    for (const [label, value] of Object.entries(values)) await setControl(filter(page, label), value);
    await filterForm(page).getByRole("button", { name: "Apply" }).click();
  });
}

/** A new page on the Executions page, its table drawn. */
async function openExecutions() {
  const page = await newPage(browser);
  await page.goto(`${weir.url}/executions`);
  await visible(page, executionsTable(page), "the executions table");
  return page;
}

/** Wait until the URL holds `expected` and every row matches `rowMatches(statuses, flows)`. */
async function untilFiltered(page, expected, rowMatches) {
  await until(page, `the URL holds ${JSON.stringify(expected)} and the rows match it`, async () => {
    const params = new URL(page.url()).searchParams;
    if (Object.entries(expected).some(([key, value]) => params.get(key) !== value)) return false;
    const table = executionsTable(page);
    if ((await table.count()) === 0) return false;
    const statuses = await column(table, "Status");
    const flows = await column(table, "Flow");
    return statuses.length > 0 && statuses.every((status, row) => rowMatches(status, flows[row]));
  });
}

test("the Flows page lists the flows, and a flow's page shows its graph and file", LONG, async () => {
  const page = await newPage(browser);
  await page.goto(weir.url);
  await visible(page, page.getByRole("heading", { level: 1, name: "Flows" }), "the Flows heading");
  for (const name of ["price-order", "hello", "branching"]) {
    await visible(page, page.getByRole("link", { name, exact: true }), `the flow ${name} in the list`);
  }
  await page.getByRole("link", { name: "price-order", exact: true }).click();
  await visible(page, page.getByRole("heading", { level: 1, name: /price-order/ }), "the flow's heading");
  const graph = page.getByRole("figure", { name: "Flow graph" });
  for (const node of ["received (log)", "price (transform)", "answer (transform)"]) {
    await visible(page, graph.getByRole("group", { name: node, exact: true }), `the node ${node} in the graph`);
  }
  await visible(page, page.getByText("kind: Flow"), "the flow's YAML");
  await page.context().close();
});

test("the Executions page filters by status and by flow, pages on, and the URL holds the filters", LONG, async () => {
  const page = await openExecutions();

  await applyFilters(page, { Status: "failed" });
  await untilFiltered(page, { status: "failed" }, (status) => statusIs(status, "failed"));
  await applyFilters(page, { Flow: "price-order" });
  await untilFiltered(page, { status: "failed", flow: "price-order" }, (status, flow) => statusIs(status, "failed") && flow.endsWith("price-order"));
  await visible(page, page.getByRole("link", { name: seeded.bob }), "the failed order among the rows");
  const filtered = page.url();

  // The same URL in a new page is the same filter state: the form shows it, the rows match it.
  const linked = await newPage(browser);
  await linked.goto(filtered);
  await untilFiltered(linked, { status: "failed", flow: "price-order" }, (status, flow) => statusIs(status, "failed") && flow.endsWith("price-order"));
  assert.equal(await filter(linked, "Status").inputValue(), "failed");
  assert.equal(await filter(linked, "Flow").inputValue(), "price-order");
  await linked.context().close();

  // One flow's long history comes a page at a time.
  await page.goto(`${weir.url}/executions?flow=hello`);
  await untilFiltered(page, { flow: "hello" }, (_, flow) => flow.endsWith("hello"));
  const first = (await column(executionsTable(page), "Flow")).length;
  await page.getByRole("button", { name: "Load more" }).click();
  await until(page, `more than the first ${first} rows are shown`, async () => (await column(executionsTable(page), "Flow")).length > first);
  await page.context().close();
});

test("a search for a value inside an input finds the failed order", LONG, async () => {
  const page = await openExecutions();
  await applyFilters(page, { Search: "Bob" });
  await untilFiltered(page, { q: "Bob" }, (status, flow) => statusIs(status, "failed") && flow.endsWith("price-order"));
  await visible(page, page.getByRole("link", { name: seeded.bob }), "Bob's failed order");
  assert.deepEqual(await column(executionsTable(page), "Status").then((rows) => rows.length), 1);
  await page.context().close();
});

test("a failed execution shows its failed node; replayed with a corrected input, it succeeds", LONG, async () => {
  const page = await newPage(browser);
  await page.goto(`${weir.url}/executions?q=Bob`);
  await page.getByRole("link", { name: seeded.bob }).click();
  const heading = page.getByRole("heading", { level: 1 });
  await until(page, "the heading names the failed execution", async () => {
    const text = await heading.innerText();
    return text.includes(seeded.bob) && statusIs(text, "failed");
  });
  const graph = page.getByRole("figure", { name: "Flow graph" });
  await visible(page, graph.getByRole("group", { name: "price (transform): failed" }), "the price node marked failed");
  await visible(page, graph.getByRole("group", { name: "received (log): succeeded" }), "the received node marked succeeded");
  await visible(page, graph.getByRole("group", { name: "answer (transform): not run" }), "the answer node marked not run");
  // ... and drawn differently: its border is not that of a succeeded node.
  const border = (name) =>
    graph.getByRole("group", { name }).evaluate((node) => {
      const style = getComputedStyle(node);
      return `${style.borderTopStyle} ${style.borderTopWidth} ${style.borderTopColor}`;
    });
  const failedBorder = await border("price (transform): failed");
  assert.notEqual(failedBorder, await border("received (log): succeeded"), `the failed node has a succeeded node's border (${failedBorder})`);

  const replay = page.getByRole("form", { name: "Replay this execution" });
  await replay.getByLabel("with a patched input").check();
  await replay.getByRole("textbox").fill(JSON.stringify(BOB_CORRECTED, null, 2));
  await replay.getByRole("button", { name: "Replay", exact: true }).click();

  let replayed;
  await until(page, "the page shows a new execution", async () => {
    replayed = /\/executions\/([^/?#]+)$/.exec(new URL(page.url()).pathname)?.[1];
    return replayed !== undefined && replayed !== seeded.bob;
  });
  await until(page, "the replay succeeded", async () => {
    const text = await heading.innerText();
    return text.includes(replayed) && statusIs(text, "succeeded");
  });
  await visible(page, page.getByRole("link", { name: seeded.bob }), "the link to the execution it replays");
  await visible(page, graph.getByRole("group", { name: "price (transform): succeeded" }), "the price node marked succeeded");

  await page.goto(`${weir.url}/executions?flow=price-order`);
  const row = executionsTable(page).getByRole("row").filter({ has: page.getByRole("link", { name: replayed }) });
  await visible(page, row, "the replay among the flow's executions");
  assert.ok(statusIs(await row.innerText(), "succeeded"), await row.innerText());
  await page.context().close();
});

test("new executions appear on the Executions page without reloading it", LONG, async () => {
  const page = await openExecutions();
  await page.evaluate(() => {
    window.stillThisPage = true;
  });
  const rowOf = (id) => executionsTable(page).getByRole("row").filter({ has: page.getByRole("link", { name: id }) });

  // A run the console starts (its API), and one a runner ships to it (`weir run --console`).
  const { id: started } = await api(weir.url, "/flows/hello/runs", { input: { name: "Live" } });
  await until(page, `the run ${started} is listed as succeeded`, async () => statusIs(await rowOf(started).innerText({ timeout: 1_000 }), "succeeded"));
  const shipped = await weirRun("examples/hello/flow.yaml", { name: "Shipped" }, {
    store: `sqlite:///${seeded.dir}/runner.db`,
    console: weir.url,
  });
  await until(page, `the shipped run ${shipped} is listed as succeeded`, async () => statusIs(await rowOf(shipped).innerText({ timeout: 1_000 }), "succeeded"));
  assert.equal(await page.evaluate(() => window.stillThisPage), true, "the page was reloaded");
  await page.context().close();
});

/** Each page, and what says it has drawn. */
const PAGES = [
  { name: "flows", path: () => "/", ready: (page) => page.getByRole("link", { name: "price-order", exact: true }) },
  { name: "flow", path: () => "/flows/price-order", ready: (page) => page.getByRole("group", { name: "price (transform)", exact: true }) },
  { name: "executions", path: () => "/executions", ready: (page) => executionsTable(page).getByRole("link", { name: seeded.bob }) },
  { name: "execution", path: () => `/executions/${seeded.bob}`, ready: (page) => page.getByRole("group", { name: "price (transform): failed" }) },
];

test("each page, light and dark, is photographed and has no serious or critical axe violation", LONG, async () => {
  const found = [];
  for (const colorScheme of ["light", "dark"]) {
    const page = await newPage(browser, colorScheme);
    await page.emulateMedia({ colorScheme });
    for (const shown of PAGES) {
      await page.goto(`${weir.url}${shown.path()}`);
      await visible(page, shown.ready(page), `the ${shown.name} page drawn`);
      await screenshot(page, `${shown.name}-${colorScheme}`);
      const violations = await explain(page, "running axe-core", () => seriousViolations(page));
      found.push(...violations.map((violation) => `${shown.name} (${colorScheme}): ${violation}`));
    }
    await page.context().close();
  }
  if (found.length > 0) assert.fail(`axe-core found ${found.length} serious or critical violations:\n${found.join("\n")}`);
});

test("the Executions page's first load: time to rows and JS shipped", LONG, async (t) => {
  const loads = [];
  for (let n = 0; n < 3; n++) loads.push(await measureFirstLoad(browser, `${weir.url}/executions`));
  const times = loads.map((load) => load.rowsAtMs).sort((a, b) => a - b);
  const { scripts, gzipBytes, rawBytes, rows } = loads[0];
  const figures = [
    `time to interactive (navigation start to the executions table with ${rows} rows), ${HISTORY + 4}+ executions seeded: ` +
      `median ${times[1].toFixed(0)} ms (${times.map((ms) => ms.toFixed(0)).join(", ")} ms over ${times.length} cold loads)`,
    `JS loaded on first page: ${scripts.join(", ")}: ${(gzipBytes / 1000).toFixed(1)} kB gzipped (${(rawBytes / 1000).toFixed(1)} kB raw)`,
  ];
  for (const line of figures) {
    t.diagnostic(line);
  }
  assert.ok(rows > 0, "the executions table had no rows");
  assert.ok(scripts.length > 0, "no script of dist/assets was loaded");
});
