// Signing in to a console that checks who you are (`weir console --kube`): a Kubernetes bearer
// token, kept for this tab in sessionStorage and sent as `Authorization: Bearer` on every API
// call. The event stream (EventSource, which cannot set headers) carries it in the weir_token
// cookie, which the console takes for GET requests only (weir/console/access.py).
import { useSyncExternalStore } from "react";

const KEY = "weir.token";
const COOKIE = "weir_token";
const COOKIE_PATH = "/api/v1";

export interface AuthState {
  /** Set when the console answered 401: what it said (no token, or a token it refused). */
  required: string | null;
  signedIn: boolean;
}

let state: AuthState = { required: null, signedIn: token() !== null };
const listeners = new Set<() => void>();

function change(next: Partial<AuthState>) {
  state = { ...state, ...next };
  for (const listener of listeners) listener();
}

export function token(): string | null {
  try {
    return sessionStorage.getItem(KEY) || null;
  } catch {
    return null; // storage refused (a privacy mode): no token kept
  }
}

function writeCookie(value: string | null) {
  if (typeof document === "undefined") return;
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = value
    ? `${COOKIE}=${encodeURIComponent(value)}; Path=${COOKIE_PATH}; SameSite=Strict${secure}`
    : `${COOKIE}=; Path=${COOKIE_PATH}; Max-Age=0; SameSite=Strict${secure}`;
}

/** Before an event stream opens: the cookie says this tab's token (another tab may have
 * signed in with another one, or out). */
export function tokenToCookie() {
  writeCookie(token());
}

export function signIn(value: string) {
  const trimmed = value.trim().replace(/^Bearer\s+/i, "");
  if (!trimmed) throw new Error("paste a token: the output of kubectl create token <serviceaccount>");
  sessionStorage.setItem(KEY, trimmed);
  writeCookie(trimmed);
  change({ required: null, signedIn: true });
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  writeCookie(null);
  change({ signedIn: false });
}

/** The console answered 401 to a call sent with `sent` (the token then, or null): the app asks
 * for a token instead of showing the page, and forgets the one refused. A late answer to a call
 * sent before the token changed says nothing about the new one. */
export function authRequired(detail: string, sent: string | null) {
  if (sent !== token()) return;
  if (sent !== null) {
    sessionStorage.removeItem(KEY);
    writeCookie(null);
  }
  if (state.required !== detail || state.signedIn) change({ required: detail, signedIn: false });
}

export function useAuth(): AuthState {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => state,
  );
}
