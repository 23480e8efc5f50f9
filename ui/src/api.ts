// The JSON API, called from the page with the user's token when there is one, and what its refusals mean.

const TOKEN_KEY = "flow-manager.token";

/** The path the page is served under (`/ui`, or `/<stage>/ui`), as the server wrote it into the page. */
export const base: string =
  document.querySelector<HTMLMetaElement>('meta[name="flow-manager-base"]')?.content.replace(/\/$/, "") || "/ui";
/** The API is the same origin and the same stage as the page. */
export const apiRoot: string = base.replace(/\/ui$/, "");

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export interface Detail {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Detail[] = [],
    readonly retryAfter: string | null = null,
  ) {
    super(message);
  }
}

export async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const sent: Record<string, string> = { accept: "application/json", ...headers };
  const bearer = token();
  if (bearer) sent.authorization = `Bearer ${bearer}`;
  if (body !== undefined) sent["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(apiRoot + path, {
      method,
      headers: sent,
      body: body === undefined ? null : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, "unreachable", `the API did not answer (${String(error)})`);
  }
  const text = await response.text();
  let document: unknown = null;
  try {
    document = text ? JSON.parse(text) : null;
  } catch {
    document = null;
  }
  if (!response.ok) {
    const envelope = (document as { error?: { code?: string; message?: string; details?: Detail[] }; message?: string } | null) ?? {};
    throw new ApiError(
      response.status,
      envelope.error?.code ?? "error",
      envelope.error?.message ?? envelope.message ?? (text.slice(0, 300) || response.statusText),
      envelope.error?.details ?? [],
      response.headers.get("retry-after"),
    );
  }
  return document as T;
}

export interface Explained {
  title: string;
  hint: string;
}

/** What a failed call means to the user, and what to do about it. */
export function explain(error: unknown, subject = "it"): Explained {
  if (!(error instanceof ApiError)) {
    return { title: "Something broke in the page", hint: `${String(error)}. Reload the page; if it persists, the browser console says more.` };
  }
  switch (error.status) {
    case 0:
      return {
        title: "Cannot reach the API",
        hint: `Is the stack running? Locally, start it with make run (API on ${location.origin}), then reload.`,
      };
    case 401:
      return {
        title: "Sign in: paste a token",
        hint: "The API wants a token for this. Paste one in the API token field at the top and press Use. The local stack (make run) needs none.",
      };
    case 403:
      return {
        title: "Missing scope",
        hint: "Your token is valid but lacks the scope this needs (flows:read, flows:write, executions:read or executions:write). Ask for a token that has it.",
      };
    case 404:
      return {
        title: "Not found, maybe another tenant's",
        hint: `There is no such ${subject} for you: it may have been deleted, the link may be mistyped, or it belongs to another tenant (the API answers 404 for those too).`,
      };
    case 409:
      return { title: "Not possible in its current state", hint: "Reload to see where it stands now." };
    case 422:
      return { title: "The request has problems", hint: "Fix the fields listed below and try again." };
    case 429:
      return {
        title: "Too many requests",
        hint: `The API is throttling this tenant; try again ${error.retryAfter ? `in ${error.retryAfter} s` : "in a moment"}.`,
      };
    default:
      return {
        title: error.status >= 500 ? `The API failed (${error.status})` : `The API refused (${error.status})`,
        hint: error.status >= 500 ? "Try again in a moment; the API's log says what happened." : "See the API's message below.",
      };
  }
}

/** Whether an error means polling again cannot help until the user does something. */
export function isFinalError(error: unknown): boolean {
  return error instanceof ApiError && [401, 403, 404].includes(error.status);
}
