// /ui/executions?flow_id=&status=&from=&to=&cursor=: a flow's executions, newest first, a page at a time.
// The API lists one flow's executions, filtered by status; the time range narrows each page it returns.

import { call } from "../api";
import { append, h, replace } from "../dom";
import { href, navigate, type Context } from "../router";
import { EXECUTION_STATUSES, badge, between, duration, empty, errorBox, loading, setTitle, when } from "../ui";
import type { FlowListed } from "./flows";

export interface ExecutionSummary {
  execution_id: string;
  flow_id: string;
  flow_version: number;
  flow_name: string;
  status: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  error: string | null;
}

const PAGE_SIZES = [10, 25, 50, 100];

/** The page size the URL asks for, within what the API takes (1 to 100); 25 otherwise. */
function pageSize(asked: string | null): number {
  const size = Number(asked);
  return Number.isInteger(size) && size >= 1 && size <= 100 ? size : 25;
}

export function executionsView({ root, query, notice }: Context): void {
  setTitle("Executions");
  const filters = {
    flow_id: query.get("flow_id") ?? "",
    status: query.get("status") ?? "",
    from: query.get("from") ?? "",
    to: query.get("to") ?? "",
    limit: pageSize(query.get("limit")),
    cursor: query.get("cursor") ?? "",
  };
  const flowSelect = h("select", { id: "filter-flow", name: "flow_id" }, h("option", { value: "" }, "choose a flow…"));
  if (filters.flow_id) flowSelect.append(h("option", { value: filters.flow_id, selected: true }, filters.flow_id));
  const form = h(
    "form",
    { class: "filters", role: "search" },
    h("label", null, "Flow ", flowSelect),
    h(
      "label",
      null,
      "Status ",
      h("select", { name: "status" }, h("option", { value: "" }, "any"), EXECUTION_STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, s))),
    ),
    h("label", null, "Created from ", h("input", { type: "datetime-local", name: "from", value: filters.from, step: 1 })),
    h("label", null, "to ", h("input", { type: "datetime-local", name: "to", value: filters.to, step: 1 })),
    h("label", null, "Per page ", h("select", { name: "limit" }, [...new Set([...PAGE_SIZES, filters.limit])].sort((a, b) => a - b).map((n) => h("option", { value: n, selected: n === filters.limit }, String(n))))),
    h("button", { type: "submit" }, "Show"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const value = (name: string) => String(data.get(name) ?? "");
    navigate(href("/executions", { flow_id: value("flow_id"), status: value("status"), from: value("from"), to: value("to"), limit: value("limit") }));
  });
  flowSelect.addEventListener("change", () => form.requestSubmit());
  const results = h("div", null);
  append(root, [h("h1", null, "Executions"), notice ? h("p", { class: "notice", role: "status" }, notice) : null, form, results]);
  void fillFlows(flowSelect, filters.flow_id, results);
  if (filters.flow_id) {
    results.append(loading("executions"));
    void showPage(results, filters);
  }
}

async function fillFlows(select: HTMLSelectElement, chosen: string, results: HTMLElement): Promise<void> {
  let flows: FlowListed[];
  try {
    flows = (await call<{ flows: FlowListed[] }>("GET", "/flows?limit=100")).flows;
  } catch (error) {
    if (!chosen) replace(results, errorBox(error, "flow list"));
    return;
  }
  for (const flow of flows) {
    if (flow.flow_id !== chosen) select.append(h("option", { value: flow.flow_id }, `${flow.flow_id} — ${flow.name}`));
  }
  if (chosen) return;
  replace(
    results,
    flows.length
      ? h(
          "div",
          { class: "empty" },
          h("strong", null, "Choose a flow."),
          h("p", null, "The API lists executions one flow at a time. Pick one above, or:"),
          h("ul", null, flows.map((flow) => h("li", null, h("a", { href: href("/executions", { flow_id: flow.flow_id }) }, flow.flow_id), ` — ${flow.name}`))),
        )
      : empty("No flows yet, so no executions.", "Store a flow on the ", h("a", { href: href("/flows") }, "Flows"), " page, then start it."),
  );
}

interface Filters {
  flow_id: string;
  status: string;
  from: string;
  to: string;
  limit: number;
  cursor: string;
}

async function showPage(results: HTMLElement, filters: Filters): Promise<void> {
  const params = new URLSearchParams({ flow_id: filters.flow_id, limit: String(filters.limit) });
  if (filters.status) params.set("status", filters.status);
  if (filters.cursor) params.set("cursor", filters.cursor);
  let page: { executions: ExecutionSummary[]; next_cursor: string | null };
  try {
    page = await call("GET", `/executions?${params}`);
  } catch (error) {
    replace(results, errorBox(error, "flow"));
    return;
  }
  const from = filters.from ? new Date(filters.from).getTime() : null;
  const to = filters.to ? new Date(filters.to).getTime() : null;
  const shown = page.executions.filter((e) => {
    const at = Date.parse(e.created_at);
    return (from === null || at >= from) && (to === null || at <= to);
  });
  // Newest first: once a page reaches before `from`, no later page can match.
  const oldest = page.executions.at(-1);
  const more = page.next_cursor && !(from !== null && oldest && Date.parse(oldest.created_at) < from);
  const links = h(
    "p",
    { class: "pager" },
    filters.cursor ? h("a", { href: href("/executions", { ...filters, cursor: "" }) }, "« Newest") : null,
    more ? h("a", { href: href("/executions", { ...filters, cursor: page.next_cursor }), rel: "next" }, "Older »") : null,
  );
  if (shown.length === 0) {
    const what = [filters.status ? `with status ${filters.status}` : "", from !== null || to !== null ? "in that time range" : ""].filter(Boolean).join(" ");
    replace(
      results,
      page.executions.length || filters.cursor
        ? empty(`No executions of ${filters.flow_id} ${what} on this page.`, more ? "Try older pages, or widen the filters." : "Widen the filters.")
        : empty(`No executions of ${filters.flow_id}${what ? ` ${what}` : ""} yet.`, "Start one from the ", h("a", { href: href(`/flows/${encodeURIComponent(filters.flow_id)}`) }, "flow's page"), "."),
      links,
    );
    return;
  }
  replace(
    results,
    h(
      "table",
      { class: "list executions" },
      h("thead", null, h("tr", null, ["Execution", "Status", "Version", "Created", "Started", "Ended", "Duration", "Error"].map((t) => h("th", null, t)))),
      h(
        "tbody",
        null,
        shown.map((e) =>
          h(
            "tr",
            { "data-execution": e.execution_id },
            h("td", null, h("a", { href: href(`/executions/${encodeURIComponent(e.execution_id)}`) }, h("code", null, e.execution_id))),
            h("td", null, badge(e.status)),
            h("td", { class: "num" }, h("a", { href: href(`/flows/${encodeURIComponent(e.flow_id)}`, { version: e.flow_version }) }, `v${e.flow_version}`)),
            h("td", null, when(e.created_at)),
            h("td", null, when(e.started_at)),
            h("td", null, when(e.ended_at)),
            h("td", { class: "num" }, duration(between(e.started_at, e.ended_at))),
            h("td", { class: "error-text" }, e.error ?? ""),
          ),
        ),
      ),
    ),
    links,
  );
}
