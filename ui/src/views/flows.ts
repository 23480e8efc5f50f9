// /ui and /ui/flows: the stored flows, with their latest version, and a box to store another.

import { call } from "../api";
import { append, h, replace } from "../dom";
import { href, navigate, type Context } from "../router";
import { empty, errorBox, loading, parseJson, setTitle, when } from "../ui";

export interface FlowListed {
  flow_id: string;
  name: string;
  latest_version: number;
  created_at: string;
  updated_at: string;
}

interface FlowPage {
  flows: FlowListed[];
  next_cursor: string | null;
}

export function flowsView({ root, notice }: Context): void {
  setTitle("Flows");
  const list = h("div", null, loading("flows"));
  append(root, [
    h("h1", null, "Flows"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    list,
    storeForm()]);
  void showPage(list, null);
}

async function showPage(list: HTMLElement, cursor: string | null): Promise<void> {
  let page: FlowPage;
  try {
    page = await call<FlowPage>("GET", `/flows?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  } catch (error) {
    replace(list, errorBox(error, "flow list"));
    return;
  }
  if (!cursor && page.flows.length === 0) {
    replace(
      list,
      empty(
        "No flows yet.",
        "Store one below (paste a file from examples/), or from a terminal: ",
        h("code", null, "curl -X POST localhost:3000/flows -H 'content-type: application/json' -d @examples/data_processing.json"),
      ),
    );
    return;
  }
  const rows = page.flows.map((flow) =>
    h(
      "tr",
      { "data-flow": flow.flow_id },
      h("td", null, h("a", { href: href(`/flows/${encodeURIComponent(flow.flow_id)}`) }, flow.flow_id)),
      h("td", null, flow.name),
      h("td", { class: "versions" }, versionLinks(flow)),
      h("td", null, when(flow.updated_at)),
      h("td", null, h("a", { href: href("/executions", { flow_id: flow.flow_id }) }, "executions")),
    ),
  );
  let table = list.querySelector("tbody");
  if (!table) {
    table = h("tbody");
    replace(
      list,
      h(
        "table",
        { class: "list flows" },
        h("thead", null, h("tr", null, h("th", null, "Flow"), h("th", null, "Name"), h("th", null, "Versions"), h("th", null, "Updated"), h("th", null, ""))),
        table,
      ),
    );
  }
  table.append(...rows);
  list.querySelector("button.more")?.remove();
  if (page.next_cursor) {
    const next = page.next_cursor;
    list.append(h("button", { type: "button", class: "more", onclick: () => void showPage(list, next) }, "More flows"));
  }
}

const VERSIONS_LISTED = 5;

/** The latest versions, newest first, each linking to its graph; the flow's page lists all of them. */
function versionLinks(flow: FlowListed): HTMLElement[] {
  const count = Math.min(flow.latest_version, VERSIONS_LISTED);
  const links = Array.from({ length: count }, (_, i) => flow.latest_version - i).map((version) =>
    h(
      "a",
      { href: href(`/flows/${encodeURIComponent(flow.flow_id)}`, { version }), title: version === flow.latest_version ? "the latest version" : null },
      version === flow.latest_version ? `v${version} (latest)` : `v${version}`,
    ),
  );
  return flow.latest_version > count ? [...links, h("span", { class: "muted" }, "…")] : links;
}

function storeForm(): HTMLElement {
  const area = h("textarea", {
    id: "definition",
    name: "definition",
    rows: 12,
    spellcheck: "false",
    placeholder: '{"id": "flow123", "name": "…", "start_task": "task1", "tasks": [...], "conditions": [...]}',
  });
  const outcome = h("div");
  const form = h(
    "form",
    { class: "store" },
    h("label", { for: "definition" }, "Paste a flow definition (flat, or wrapped as {\"flow\": {...}}). Storing a changed definition makes the flow's next version."),
    area,
    h("div", { class: "row" }, h("button", { type: "submit" }, "Store flow")),
    outcome,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parsed = parseJson(area.value, "The definition");
    if ("problem" in parsed || parsed.value === undefined) {
      replace(outcome, h("div", { class: "error", role: "alert" }, h("strong", null, "Nothing stored"), h("p", null, "problem" in parsed ? parsed.problem : "Paste a definition first.")));
      return;
    }
    try {
      const stored = await call<{ flow_id: string; version: number; created: boolean }>("POST", "/flows", parsed.value);
      navigate(href(`/flows/${encodeURIComponent(stored.flow_id)}`), stored.created ? `Stored as version ${stored.version}.` : `Unchanged: version ${stored.version} already holds this definition.`);
    } catch (error) {
      replace(outcome, errorBox(error, "flow"));
    }
  });
  return h("details", { class: "panel" }, h("summary", null, "Store a flow"), form);
}
