// A fake /api/v1 for component tests: the global fetch answers from a table of paths, and
// records what was asked, so that a test sees the exact requests the app makes.
import { vi } from "vitest";
import type { ExecutionSummary } from "../types";

export type Answer = { status?: number; body: unknown } | ((url: URL, init?: RequestInit) => { status?: number; body: unknown });

export function fakeApi(answers: Record<string, Answer>) {
  const calls: { url: URL; init?: RequestInit }[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://console.test");
    calls.push({ url, init });
    const entry = answers[url.pathname];
    if (!entry) {
      const problem = { title: "Not Found", status: 404, detail: `no endpoint at ${url.pathname}` };
      return new Response(JSON.stringify(problem), { status: 404, headers: { "Content-Type": "application/problem+json" } });
    }
    const { status = 200, body } = typeof entry === "function" ? entry(url, init) : entry;
    const type = status >= 400 ? "application/problem+json" : "application/json";
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": type } });
  });
  vi.stubGlobal("fetch", fetchMock);
  return calls;
}

export function execution(id: string, extra: Partial<ExecutionSummary> = {}): ExecutionSummary {
  return {
    id,
    flow: "hello",
    namespace: "",
    revision: "r1",
    triggerKind: "manual",
    status: "succeeded",
    startedAt: "2026-01-02T03:04:05Z",
    finishedAt: "2026-01-02T03:04:06Z",
    durationMs: 1234,
    errorType: null,
    errorMessage: null,
    replayOf: null,
    ...extra,
  };
}

/** A stand-in for the browser's EventSource (jsdom has none): a test emits events by hand. */
export class FakeEventSource {
  static opened: FakeEventSource[] = [];
  listeners = new Map<string, ((message: MessageEvent<string>) => void)[]>();
  closed = false;
  constructor(readonly url: string) {
    FakeEventSource.opened.push(this);
  }
  addEventListener(type: string, listener: (message: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close() {
    this.closed = true;
  }
  emit(type: string, data: unknown) {
    const message = new MessageEvent<string>(type, { data: JSON.stringify(data) });
    for (const listener of this.listeners.get(type) ?? []) listener(message);
  }
}
