// The real thing the browser talks to: a `weir console` on a fresh SQLite store in a temporary
// directory, seeded with executions of the examples by `weir run` and by the console's API.
import { execFile, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const ROOT = resolve(import.meta.dirname, "../..");
export const WEIR = process.env.WEIR_BIN ?? join(ROOT, ".venv/bin/weir");
const STARTUP_MS = 60_000;

// Ctrl-C or a TERM ends this process through its "exit" handlers: the console is stopped and the
// temporary store removed then too, not only by the tests' `after`.
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]]) process.once(signal, () => process.exit(code));

/** The failing order (no price on its line) and the same order corrected. */
export const BOB = { customer: "Bob", lines: [{ sku: "A1", qty: 2 }] };
export const BOB_CORRECTED = { customer: "Bob", lines: [{ sku: "A1", qty: 2, price: 4.5 }] };

/** `weir run FLOW` with an input; resolves to the execution id. `fails` says which exit is expected. */
export async function weirRun(flow, input, { store, console: consoleUrl, fails = false }) {
  const args = ["run", join(ROOT, flow), "--input", typeof input === "string" ? input : JSON.stringify(input)];
  if (store) args.push("--store", store);
  if (consoleUrl) args.push("--console", consoleUrl);
  let out;
  try {
    out = await run(WEIR, args, { cwd: ROOT, timeout: 60_000 });
    if (fails) throw new Error(`weir ${args.join(" ")} succeeded, but it was meant to fail`);
  } catch (error) {
    if (!fails || error.code === undefined || error.code === 0) throw error;
    out = error;
  }
  const id = /execution ([0-9a-z]{26})/.exec(`${out.stderr}\n${out.stdout}`)?.[1];
  if (!id) throw new Error(`weir ${args.join(" ")} named no execution:\n${out.stderr}`);
  return id;
}

/** A fresh SQLite store in a temporary directory (created by the first writer). */
export async function newStore() {
  const dir = await mkdtemp(join(tmpdir(), "weir-e2e-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return { dir, store: `sqlite:///${join(dir, "store.db")}` };
}

/** Runs of the examples by `weir run` into the store (which the console may be serving): a good
 * order, a failing one (Bob), hello, branching; their execution ids by name. */
export async function seedExamples(store) {
  return {
    ada: await weirRun("examples/console/flow.yaml", { customer: "Ada", lines: [{ sku: "A1", qty: 2, price: 9.5 }] }, { store }),
    bob: await weirRun("examples/console/flow.yaml", BOB, { store, fails: true }),
    hello: await weirRun("examples/hello/flow.yaml", { name: "Ada" }, { store }),
    branching: await weirRun("examples/branching/flow.yaml", `@${join(ROOT, "examples/branching/input.json")}`, { store }),
  };
}

/** `weir console` over the store and examples/, on a free loopback port; resolves once ready. */
export async function startConsole(store) {
  const args = ["console", "--store", store, "--port", "0", "--grace", "2", "--ui", join(ROOT, "console-ui/dist"), join(ROOT, "examples")];
  const child = spawn(WEIR, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  // Whatever ends this process (a failed assertion, a timeout, Ctrl-C) ends the console too.
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  let log = "";
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`weir console did not start in ${STARTUP_MS} ms:\n${log}`)), STARTUP_MS);
    const read = (chunk) => {
      log += chunk;
      const found = /serving .* on (http:\/\/[\d.]+:\d+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        resolveUrl(found[1]);
      }
    };
    child.stdout.setEncoding("utf8").on("data", read);
    child.stderr.setEncoding("utf8").on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`weir console exited (${code}) before serving:\n${log}`));
    });
  });
  await waitReady(url);
  const stop = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once("exit", done));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return { url, stop, log: () => log };
}

async function waitReady(url) {
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    const answer = await fetch(`${url}/readyz`).catch((error) => error);
    if (answer.ok) return;
    if (Date.now() > deadline) throw new Error(`${url}/readyz is not ready: ${answer.status ?? answer.message}`);
    await new Promise((again) => setTimeout(again, 100));
  }
}

/** POST to the console's API; the JSON answer, or an error naming the call and its problem. */
export async function api(url, path, body) {
  const answer = await fetch(`${url}/api/v1${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${text}`);
  return JSON.parse(text);
}

/** `count` manual runs of hello through the API, a few at a time: a history to page through. */
export async function seedRuns(url, count, parallel = 8) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = next++;
      await api(url, "/flows/hello/runs", { input: { name: `Visitor ${n}` } });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

export async function removeStore(created) {
  if (created?.dir) await rm(created.dir, { recursive: true, force: true });
}
