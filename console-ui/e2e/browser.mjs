// Debian's headless Chromium driven by playwright-core (no downloaded browser), and the checks
// every test shares: waiting on what the page shows, axe-core, screenshots.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { ROOT } from "./weir.mjs";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
/** How long the page gets to show something: generous, the machine is shared. */
export const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 30_000);
export const VIEWPORT = { width: 1280, height: 800 };
/** Where screenshots go: build/screenshots/console, or $SCREENSHOTS (`make ui-screenshots`
 * writes the ones docs/console.md shows), so that `make test` leaves the checkout clean. */
export const SCREENSHOTS = process.env.SCREENSHOTS ? resolve(process.env.SCREENSHOTS) : join(ROOT, "build/screenshots/console");
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (Debian's package), or set CHROMIUM`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

/** A fresh page (its own context: no cache, no storage) at the console's size. */
export async function newPage(browser, colorScheme = "light") {
  const context = await browser.newContext({ viewport: VIEWPORT, colorScheme });
  context.setDefaultTimeout(WAIT_MS);
  return context.newPage();
}

async function pageText(page) {
  const text = await page.locator("body").innerText({ timeout: 2_000 }).catch((error) => `(unreadable: ${error.message})`);
  return text.length > 4_000 ? `${text.slice(0, 4_000)}\n…` : text;
}

/** Wrap a failed wait with what the page showed, so that a timeout says why. */
export async function explain(page, what, action) {
  try {
    return await action();
  } catch (error) {
    throw new Error(`${what} (at ${page.url()}): ${error.message.split("\n")[0]}\n--- page text ---\n${await pageText(page)}`, {
      cause: error,
    });
  }
}

export function visible(page, locator, what) {
  return explain(page, `waiting for ${what}`, () => locator.first().waitFor({ state: "visible", timeout: WAIT_MS }));
}

/** Poll `check` (a Node-side async predicate over the page) until it holds. */
export function until(page, what, check) {
  return explain(page, `waiting until ${what}`, async () => {
    const deadline = Date.now() + WAIT_MS;
    let last;
    for (;;) {
      last = await check().catch((error) => error);
      if (last === true) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms${last instanceof Error ? `: ${last.message}` : ""}`);
      await new Promise((again) => setTimeout(again, 100));
    }
  });
}

/** The texts of one column (by its header's name) of a table, row by row. */
export function column(table, header) {
  return table.evaluate((element, name) => {
    const headers = [...element.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    const index = headers.indexOf(name);
    if (index < 0) throw new Error(`no column ${name} in ${headers.join(", ")}`);
    return [...element.querySelectorAll("tbody tr")]
      .filter((row) => row.cells.length === headers.length)
      .map((row) => row.cells[index].textContent.trim());
  }, header);
}

/** A form control by its label: a select gets the option, anything else the text. */
export async function setControl(control, value) {
  const tag = await control.evaluate((element) => element.tagName);
  if (tag === "SELECT") await control.selectOption(value);
  else await control.fill(value);
}

/** axe-core on the page as it is: the serious and critical violations, one line per element. */
export async function seriousViolations(page) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ path: AXE });
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .flatMap((violation) =>
      violation.nodes.map(
        (node) =>
          `${violation.impact} ${violation.id} (${violation.help}): ${node.target.join(" ")}\n    ${node.html.slice(0, 200)}\n    ${node.failureSummary?.split("\n").join(" ")}`,
      ),
    );
}

/** A screenshot of the viewport, 1280x800, under SCREENSHOTS. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), animations: "disabled", caret: "hide" });
}
