import { ApiError } from "../api";

/** An API failure in words: the console's own explanation, with what to try when it helps. */
export function ErrorMessage({ error }: { error: unknown }) {
  const message = error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError ? error.status : undefined;
  const hints: Record<number, string> = {
    0: "Is `weir console` running and ready? Retry in a moment.",
    401: "This console checks who you are: it needs a token allowed to read here.",
    403: "The console knows who you are, but the cluster does not allow you this: ask for a RoleBinding that grants it, or sign out and sign in with another token.",
    503: "Is `weir console` running and ready? Retry in a moment.",
  };
  const hint = status === undefined ? undefined : hints[status];
  return (
    <div role="alert" className="error">
      <strong>{error instanceof ApiError && error.title ? error.title : "Error"}:</strong> {message}
      {hint && <p className="hint">{hint}</p>}
    </div>
  );
}
