// Pieces every view uses: error and empty states, status badges, times and JSON.

import { ApiError, explain } from "./api";
import { h, type Child } from "./dom";

export const FINAL_STATUSES = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);
export const EXECUTION_STATUSES = ["CREATED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"];

/** A failed call, said plainly: what happened, what to do, and the API's own words. */
export function errorBox(error: unknown, subject?: string): HTMLElement {
  const { title, hint } = explain(error, subject);
  const api = error instanceof ApiError && error.status !== 0 ? error : null;
  return h(
    "div",
    { class: "error", role: "alert", "data-status": api ? api.status : "" },
    h("strong", null, title),
    h("p", null, hint),
    api ? h("p", { class: "muted" }, `The API said (${api.status} ${api.code}): ${api.message}`) : null,
    api && api.details.length
      ? h("ul", null, api.details.map((detail) => h("li", null, h("code", null, detail.field), ": ", detail.message)))
      : null,
  );
}

export function empty(title: string, ...hint: Child[]): HTMLElement {
  return h("div", { class: "empty" }, h("strong", null, title), h("p", null, ...hint));
}

export function loading(what: string): HTMLElement {
  return h("p", { class: "loading muted" }, `Loading ${what}…`);
}

export function badge(status: string | null | undefined): HTMLElement {
  const value = status ?? "NOT RUN";
  return h("span", { class: `badge status-${value.replace(/ /g, "_")}` }, value);
}

/** A time in the reader's zone, to the second; the exact ISO text on hover. */
export function when(iso: string | null | undefined): HTMLElement | string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  const text = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return h("time", { datetime: iso, title: iso }, text);
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function between(start: string | null | undefined, end: string | null | undefined): number | null {
  if (!start) return null;
  const from = Date.parse(start);
  const to = end ? Date.parse(end) : Date.now();
  return Number.isNaN(from) || Number.isNaN(to) ? null : Math.max(0, to - from);
}

export function json(value: unknown): HTMLElement {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/** A JSON textarea's value, or an error naming what is wrong with it. */
export function parseJson(text: string, what: string): { value: unknown } | { problem: string } {
  if (!text.trim()) return { value: undefined };
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { problem: `${what} is not valid JSON: ${(error as Error).message}` };
  }
}

export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

export function setTitle(...parts: string[]): void {
  document.title = [...parts, "Flow Manager"].join(" · ");
}
