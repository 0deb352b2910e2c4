import { lazy, Suspense, useState } from "react";
import { NavLink, Route, Routes } from "react-router";
import { signOut, useAuth } from "./auth";
import { SignIn } from "./components/SignIn";
import { ExecutionsPage } from "./pages/ExecutionsPage";
import { FlowsPage } from "./pages/FlowsPage";

// The lists load with the app; one flow's or one execution's page (its timeline, JSON viewer,
// replay form) with its first visit.
const ExecutionPage = lazy(() => import("./pages/ExecutionPage").then((page) => ({ default: page.ExecutionPage })));
const FlowPage = lazy(() => import("./pages/FlowPage").then((page) => ({ default: page.FlowPage })));

function NotFound() {
  return (
    <section>
      <h1>Nothing here</h1>
      <p>
        This console has <NavLink to="/">Flows</NavLink> and <NavLink to="/executions">Executions</NavLink>.
      </p>
    </section>
  );
}

export function App() {
  const auth = useAuth();
  // the pages load again after a sign-out, so that the console says whether it needs a token
  const [session, setSession] = useState(0);
  const leave = () => {
    signOut();
    setSession((n) => n + 1);
  };
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Weir</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Flows
          </NavLink>
          <NavLink to="/executions">Executions</NavLink>
        </nav>
        {auth.signedIn && (
          <button type="button" className="sign-out" onClick={leave}>
            Sign out
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {auth.required !== null ? (
          <SignIn reason={auth.required} />
        ) : (
          <Suspense fallback={<p aria-live="polite">Loading…</p>}>
            <Routes key={session}>
              <Route path="/" element={<FlowsPage />} />
              <Route path="/flows/:name" element={<FlowPage />} />
              <Route path="/executions" element={<ExecutionsPage />} />
              <Route path="/executions/:id" element={<ExecutionPage />} />
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Suspense>
        )}
      </main>
    </>
  );
}
