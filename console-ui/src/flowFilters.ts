// The Flows page's filters, held in the URL (?namespace=&trigger=&state=) so each is a link.
import { readSearch, writeSearch } from "./filters";
import type { FlowSummary } from "./types";

export const FLOW_FILTER_KEYS = ["namespace", "trigger", "state"] as const;
export type FlowFilterKey = (typeof FLOW_FILTER_KEYS)[number];
export type FlowFilters = Partial<Record<FlowFilterKey, string>>;

/** The namespace filter's value for flows served from files (namespace ""): not a valid
 * Kubernetes namespace name, so it cannot mean a real one. */
export const LOCAL = "(local)";

/** The value a flow has for each filter. */
export function flowFacet(flow: FlowSummary, key: FlowFilterKey): string {
  if (key === "namespace") return flow.namespace || LOCAL;
  if (key === "trigger") return flow.trigger;
  return flow.status;
}

export function flowFiltersFromSearch(search: URLSearchParams): FlowFilters {
  return readSearch(search, FLOW_FILTER_KEYS);
}

export function searchFromFlowFilters(filters: FlowFilters): URLSearchParams {
  return writeSearch(filters, FLOW_FILTER_KEYS);
}

export function filterFlows(flows: FlowSummary[], filters: FlowFilters): FlowSummary[] {
  return flows.filter((flow) => FLOW_FILTER_KEYS.every((key) => !filters[key] || flowFacet(flow, key) === filters[key]));
}

/** Each filter's choices: the values the flows have, sorted, and the chosen one even when no
 * flow has it (a deep link to a namespace emptied since). */
export function flowFacets(flows: FlowSummary[], filters: FlowFilters): Record<FlowFilterKey, string[]> {
  const facets = {} as Record<FlowFilterKey, string[]>;
  for (const key of FLOW_FILTER_KEYS) {
    const values = new Set(flows.map((flow) => flowFacet(flow, key)));
    if (filters[key]) values.add(filters[key]!);
    facets[key] = [...values].sort();
  }
  return facets;
}
