import { useState, type FormEvent } from "react";
import { signIn } from "../auth";

/** Asked for when the console answers 401: a Kubernetes bearer token, kept for this tab only. */
export function SignIn({ reason }: { reason: string }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    try {
      signIn(value);
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <section>
      <h1>Sign in</h1>
      <p>
        This console checks who you are with the cluster. It said: <strong>{reason}</strong>
      </p>
      <form className="replay sign-in" onSubmit={submit} aria-label="Sign in with a token">
        <label className="editor">
          Kubernetes bearer token
          <input
            type="password"
            name="token"
            autoComplete="off"
            autoFocus // the one thing to do here, reached without a Tab
            spellCheck={false}
            value={value}
            onChange={(event) => setValue(event.target.value)}
            aria-describedby="token-hint"
            aria-invalid={error !== null}
          />
        </label>
        <p id="token-hint" className="hint">
          Get one with <code>kubectl create token &lt;serviceaccount&gt;</code> (for a ServiceAccount allowed to read
          flows and executions here). It is kept in this tab only, until you sign out or close it.
        </p>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}
