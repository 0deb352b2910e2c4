// What a first visit costs: from navigation start to the executions table drawn with rows, and
// the JS of console-ui/dist it loaded, gzipped as it would travel.
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { newPage, WAIT_MS } from "./browser.mjs";
import { ROOT } from "./weir.mjs";

const ASSETS = join(ROOT, "console-ui/dist/assets");

/** Runs in the page before its scripts: notes when the first table row is in the document. */
function watchForRows() {
  window.rowsAt = null;
  new MutationObserver((_, observer) => {
    if (document.querySelector("table tbody tr")) {
      window.rowsAt = performance.now(); // milliseconds since navigation start (timeOrigin)
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
}

/** One cold load (a new context: nothing cached) of `url`, whose page shows a table. */
export async function measureFirstLoad(browser, url) {
  const page = await newPage(browser);
  const scripts = new Set();
  page.on("response", (response) => {
    const path = new URL(response.url()).pathname;
    if (path.startsWith("/assets/") && path.endsWith(".js")) scripts.add(basename(path));
  });
  await page.addInitScript(watchForRows);
  await page.goto(url);
  await page.waitForFunction(() => window.rowsAt !== null, null, { timeout: WAIT_MS });
  const rowsAtMs = await page.evaluate(() => window.rowsAt);
  const rows = await page.evaluate(() => document.querySelectorAll("table tbody tr").length);
  await page.context().close();
  let gzipBytes = 0;
  let rawBytes = 0;
  for (const script of scripts) {
    const bytes = await readFile(join(ASSETS, script));
    rawBytes += bytes.length;
    gzipBytes += gzipSync(bytes, { level: 9 }).length;
  }
  return { rowsAtMs, rows, scripts: [...scripts].sort(), gzipBytes, rawBytes };
}
