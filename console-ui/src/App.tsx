import { NavLink, Route, Routes } from "react-router";
import { ExecutionPage } from "./pages/ExecutionPage";
import { ExecutionsPage } from "./pages/ExecutionsPage";
import { FlowPage } from "./pages/FlowPage";
import { FlowsPage } from "./pages/FlowsPage";

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
      </header>
      <main id="main">
        <Routes>
          <Route path="/" element={<FlowsPage />} />
          <Route path="/flows/:name" element={<FlowPage />} />
          <Route path="/executions" element={<ExecutionsPage />} />
          <Route path="/executions/:id" element={<ExecutionPage />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </>
  );
}
