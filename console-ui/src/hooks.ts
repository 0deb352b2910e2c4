import { useCallback, useEffect, useRef, useState } from "react";
import { API, request } from "./api";
import { tokenToCookie } from "./auth";
import type { EventData } from "./types";

export interface Loaded<T> {
  data?: T;
  error?: unknown;
  loading: boolean;
  reload: () => void;
}

/** GET one API path; a new path loads again, and a late answer for an old path is dropped. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({
    loading: path !== null,
  });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (path === null) return;
    let current = true;
    setState((old) => ({ data: old.data, loading: true }));
    request<T>(path).then(
      (data) => current && setState({ data, loading: false }),
      (error: unknown) => current && setState({ error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [path, generation]);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { ...state, reload };
}

/** Subscribe to /api/v1/events (Server-Sent Events; the browser reconnects with Last-Event-ID).
 * `onOpen` runs on each (re)connection: what happened before it is for the caller to catch up on. */
export function useEvents(
  params: string,
  onEvent: (event: EventData) => void,
  enabled = true,
  onOpen?: () => void,
) {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const opened = useRef(onOpen);
  opened.current = onOpen;
  useEffect(() => {
    if (!enabled || typeof EventSource === "undefined") return;
    tokenToCookie();
    const source = new EventSource(`${API}/events${params}`);
    const listen = (message: MessageEvent<string>) => {
      try {
        handler.current(JSON.parse(message.data) as EventData);
      } catch {
        // a malformed event is skipped; the next one still counts
      }
    };
    source.addEventListener("execution", listen);
    source.addEventListener("node", listen);
    source.addEventListener("open", () => opened.current?.());
    return () => source.close();
  }, [params, enabled]);
}
