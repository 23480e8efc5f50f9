// Client-side routes under the page's base: every view has its own URL, which the server answers with the same
// page (functions/api/dashboard.py), so a link opens directly and survives a reload.

import { base } from "./api";

export interface Route {
  /** The path below the base, e.g. `/executions/(?<id>[^/]+)`. */
  pattern: RegExp;
  view: View;
  nav: string;
}

export interface Context {
  root: HTMLElement;
  params: Record<string, string>;
  query: URLSearchParams;
  /** A message the previous view left for this one (after a delete, say). */
  notice: string | null;
}

/** Renders into `root`; returns what stops its timers when the user leaves. */
export type View = (context: Context) => (() => void) | void;

let routes: Route[] = [];
let fallback: View = () => undefined;
let leave: (() => void) | void = undefined;
let rootElement: HTMLElement;

export function href(path: string, query?: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return `${base}${path}${text ? `?${text}` : ""}`;
}

export function navigate(url: string, notice: string | null = null, replace = false): void {
  if (replace) history.replaceState({ notice }, "", url);
  else history.pushState({ notice }, "", url);
  render();
}

/** Read the URL again and draw its view (also after the token changed). */
export function render(): void {
  if (typeof leave === "function") leave();
  leave = undefined;
  const below = location.pathname.startsWith(base) ? location.pathname.slice(base.length) || "/" : "/";
  const path = below.length > 1 ? below.replace(/\/+$/, "") : below;
  const query = new URLSearchParams(location.search);
  const notice = (history.state as { notice?: string } | null)?.notice ?? null;
  rootElement.replaceChildren();
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (match) {
      const params = Object.fromEntries(Object.entries(match.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
      markNav(route.nav);
      leave = route.view({ root: rootElement, params, query, notice });
      return;
    }
  }
  markNav("");
  leave = fallback({ root: rootElement, params: {}, query, notice });
}

function markNav(active: string): void {
  document.querySelectorAll<HTMLAnchorElement>("a[data-nav]").forEach((link) => {
    if (link.dataset.nav === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
}

export function start(root: HTMLElement, table: Route[], notFound: View): void {
  rootElement = root;
  routes = table;
  fallback = notFound;
  // Links to the dashboard's own pages change the view without loading the page again.
  document.addEventListener("click", (event) => {
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    if (link.target || link.hasAttribute("download") || link.origin !== location.origin) return;
    if (link.pathname !== base && !link.pathname.startsWith(`${base}/`)) return;
    event.preventDefault();
    if (link.href !== location.href) navigate(link.href);
  });
  window.addEventListener("popstate", render);
  render();
}
