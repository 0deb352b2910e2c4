// The one way the app talks to the console: JSON over /api/v1, every failure an ApiError whose
// message is the problem+json `detail` the console wrote (weir/console/problems.py). A 401 also
// asks the user for a token (auth.ts), which every later call then carries.
import { authRequired, token } from "./auth";

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly title: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const problem = JSON.parse(text) as { title?: string; detail?: string };
    if (problem.detail) {
      return new ApiError(problem.detail, response.status, problem.title ?? response.statusText);
    }
  } catch {
    // not a problem document: a proxy's page, say; its status line is all we know
  }
  const reason = response.statusText || "error";
  return new ApiError(`the console answered ${response.status} ${reason}`, response.status, reason);
}

export async function request<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  const bearer = token();
  try {
    response = await fetch(`${API}${path}`, {
      ...init,
      headers: {
        Accept: "application/json",
        ...(init?.body ? { "Content-Type": "application/json" } : {}),
        ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
      },
    });
  } catch (error) {
    throw new ApiError(`cannot reach the console: ${(error as Error).message}`, 0, "unreachable");
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401) authRequired(problem.message, bearer);
    throw problem;
  }
  return (await response.json()) as T;
}

export function post<T>(path: string, body?: unknown): Promise<T> {
  return request<T>(path, { method: "POST", body: JSON.stringify(body ?? {}) });
}

/** `?a=1&b=2` from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
