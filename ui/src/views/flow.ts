// /ui/flows/{flow_id}[?version=N]: one version's graph and definition, its recent executions, and a start button.

import { call } from "../api";
import { h, replace } from "../dom";
import { drawGraph, flowGraph, graphFrame, select, type FlowDefinition } from "../graph";
import { href, navigate, type Context } from "../router";
import { badge, empty, errorBox, json, loading, parseJson, setTitle, shortId, when } from "../ui";
import type { ExecutionSummary } from "./executions";

export interface FlowVersion {
  flow_id: string;
  version: number;
  name: string;
  created_at: string;
  definition: FlowDefinition;
}

export function flowView({ root, params, query, notice }: Context): void {
  const flowId = params.id;
  setTitle(flowId, "Flow");
  const asked = Number(query.get("version")) || null;
  root.append(loading(`flow ${flowId}`));
  void (async () => {
    let latest: FlowVersion;
    let shown: FlowVersion;
    try {
      latest = await call<FlowVersion>("GET", `/flows/${encodeURIComponent(flowId)}`);
      shown = asked && asked !== latest.version ? await call<FlowVersion>("GET", `/flows/${encodeURIComponent(flowId)}?version=${asked}`) : latest;
    } catch (error) {
      replace(root, h("h1", null, "Flow ", h("code", null, flowId)), errorBox(error, "flow"), h("p", null, h("a", { href: href("/flows") }, "All flows")));
      return;
    }
    render(root, latest, shown, notice);
  })();
}

function render(root: HTMLElement, latest: FlowVersion, shown: FlowVersion, notice: string | null): void {
  const definition = shown.definition;
  const graph = flowGraph(definition);
  const detail = h("div", { class: "task-detail" }, h("p", { class: "muted" }, "Select a task in the graph to see its definition."));
  const picture = drawGraph(graph, {
    onSelect: (name) => {
      select(picture, name);
      showTask(detail, definition, name);
    },
  });
  const versions = h(
    "select",
    {
      id: "version",
      onchange: (event: Event) => navigate(href(`/flows/${encodeURIComponent(shown.flow_id)}`, { version: (event.target as HTMLSelectElement).value })),
    },
    Array.from({ length: latest.version }, (_, i) => latest.version - i).map((version) =>
      h("option", { value: version, selected: version === shown.version }, `v${version}${version === latest.version ? " (latest)" : ""}`),
    ),
  );
  replace(
    root,
    h("p", { class: "crumbs" }, h("a", { href: href("/flows") }, "Flows"), " / ", shown.flow_id),
    h("h1", null, shown.name || shown.flow_id),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h(
      "p",
      { class: "meta" },
      h("code", null, shown.flow_id),
      " · ",
      h("label", { for: "version" }, "version "),
      versions,
      " · stored ",
      when(shown.created_at),
      " · ",
      `${definition.tasks.length} task${definition.tasks.length === 1 ? "" : "s"}, start `,
      h("code", null, definition.start_task ?? definition.tasks[0]?.name ?? "—"),
      " · ",
      h("a", { href: href("/executions", { flow_id: shown.flow_id }) }, "all executions"),
    ),
    h("div", { class: "split" }, h("section", { class: "graph-section" }, h("h2", null, "Graph"), graphFrame(picture), legend()), h("aside", null, h("h2", null, "Task"), detail)),
    startForm(latest),
    recent(shown.flow_id),
    h("details", { class: "panel" }, h("summary", null, `Definition (v${shown.version}, as stored)`), json(definition)),
  );
}

function legend(): HTMLElement {
  return h(
    "p",
    { class: "legend muted" },
    h("span", { class: "key success" }, "success edge"),
    h("span", { class: "key failure" }, "failure edge"),
    h("span", { class: "key otherwise" }, "otherwise (a when rule did not hold)"),
    h("span", { class: "key join" }, "join: runs once, after its branches"),
  );
}

function showTask(detail: HTMLElement, definition: FlowDefinition, name: string): void {
  const task = definition.tasks.find((t) => t.name === name);
  const conditions = (definition.conditions ?? []).filter((c) => c.source_task === name);
  replace(
    detail,
    h("h3", null, name),
    task?.description ? h("p", null, task.description) : null,
    json(task ?? {}),
    conditions.length ? [h("h4", null, "Its conditions"), json(conditions)] : null,
  );
}

function startForm(latest: FlowVersion): HTMLElement {
  const area = h("textarea", { id: "start-input", rows: 4, spellcheck: "false" }, "{}");
  const outcome = h("div");
  const form = h(
    "form",
    { class: "start" },
    h("label", { for: "start-input" }, `Input (JSON) for an execution of the latest version, v${latest.version}`),
    area,
    h("div", { class: "row" }, h("button", { type: "submit" }, "Start execution")),
    outcome,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parsed = parseJson(area.value, "The input");
    if ("problem" in parsed) {
      replace(outcome, h("div", { class: "error", role: "alert" }, h("strong", null, "Not started"), h("p", null, parsed.problem)));
      return;
    }
    try {
      const started = await call<ExecutionSummary>("POST", `/flows/${encodeURIComponent(latest.flow_id)}/executions`, { input: parsed.value ?? {} });
      navigate(href(`/executions/${encodeURIComponent(started.execution_id)}`));
    } catch (error) {
      replace(outcome, errorBox(error, "flow"));
    }
  });
  return h("section", null, h("h2", null, "Start an execution"), form);
}

function recent(flowId: string): HTMLElement {
  const box = h("section", null, h("h2", null, "Recent executions"), loading("executions"));
  void (async () => {
    try {
      const page = await call<{ executions: ExecutionSummary[] }>("GET", `/executions?flow_id=${encodeURIComponent(flowId)}&limit=5`);
      const body = page.executions.length
        ? h(
            "ul",
            { class: "recent" },
            page.executions.map((e) =>
              h("li", null, badge(e.status), " ", h("a", { href: href(`/executions/${encodeURIComponent(e.execution_id)}`) }, h("code", null, shortId(e.execution_id))), ` v${e.flow_version} · `, when(e.created_at)),
            ),
          )
        : empty("No executions of this flow yet.", "Start one above.");
      replace(box, h("h2", null, "Recent executions"), body);
    } catch (error) {
      replace(box, h("h2", null, "Recent executions"), errorBox(error, "flow"));
    }
  })();
  return box;
}
