import { ApiError } from "../api";

/** An API failure in words: the console's own explanation, with what to try when it helps. */
export function ErrorMessage({ error }: { error: unknown }) {
  const message = error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError ? error.status : undefined;
  const hint =
    status === 401 || status === 403
      ? "This console checks who you are: it needs a token allowed to read here."
      : status === 0 || status === 503
        ? "Is `weir console` running and ready? Retry in a moment."
        : undefined;
  return (
    <div role="alert" className="error">
      <strong>{error instanceof ApiError && error.title ? error.title : "Error"}:</strong> {message}
      {hint && <p className="hint">{hint}</p>}
    </div>
  );
}
