// /ui/executions/{execution_id}: the graph coloured by each task's status, polled every second until the
// execution ends; every attempt on a timeline; each task's input, output and error; cancel, delete, and
// approve or reject a waiting callback.

import { apiRoot, call, isFinalError } from "../api";
import { append, h, replace, svg } from "../dom";
import { drawGraph, flowGraph, graphFrame, paint, select, type FlowDefinition, type FlowGraph } from "../graph";
import { href, navigate, type Context } from "../router";
import { FINAL_STATUSES, badge, between, duration, errorBox, json, loading, parseJson, setTitle, shortId, when } from "../ui";
import type { FlowVersion } from "./flow";

const POLL_MS = 1000;
const HISTORY_PAGES = 20;

interface PayloadRef {
  ref: string;
  size: number;
  sha256: string;
}

interface TaskResult {
  task_name: string;
  status: string;
  message: string | null;
  output: unknown;
  output_omitted: boolean;
  output_ref: PayloadRef | null;
  input: unknown;
  input_ref: PayloadRef | null;
  error: string | null;
  attempts: number;
  started_at: string | null;
  ended_at: string | null;
  arrived_count?: number;
  callback: { token: string; url: string } | null;
  child_execution_id: string | null;
}

interface StatusDocument {
  execution_id: string;
  flow_id: string;
  flow_version: number;
  flow_name: string;
  status: string;
  current_task: string | null;
  path: string[];
  path_total: number;
  run_counts: Record<string, number>;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  error: string | null;
  input: unknown;
  input_ref: PayloadRef | null;
  task_results: Record<string, TaskResult>;
  parent: { execution_id: string; task_name: string } | null;
}

interface HistoryEvent {
  seq: number;
  task_name: string;
  attempt: number;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  message: string | null;
  error: string | null;
}

interface Screen {
  id: string;
  doc: StatusDocument | null;
  definition: FlowDefinition | null;
  graph: FlowGraph | null;
  picture: SVGSVGElement | null;
  selected: string | null;
  /** Whether the user chose the task shown; until then it follows the execution's current task. */
  picked: boolean;
  history: HistoryEvent[];
  historySignature: string;
  parts: Record<"head" | "actions" | "callbacks" | "graph" | "detail" | "timeline" | "input" | "problem", HTMLElement>;
  /** Read the execution again now (after an action), and go on polling while it runs. */
  refresh?: () => void;
}

export function executionView({ root, params, notice }: Context): () => void {
  const id = params.id;
  setTitle(shortId(id), "Execution");
  const part = (name: string) => h("div", { class: `part ${name}` });
  const screen: Screen = {
    id,
    doc: null,
    definition: null,
    graph: null,
    picture: null,
    selected: null,
    picked: false,
    history: [],
    historySignature: "",
    parts: {
      head: part("head"),
      problem: part("problem"),
      actions: part("actions"),
      callbacks: part("callbacks"),
      graph: part("graph"),
      detail: part("detail"),
      timeline: part("timeline"),
      input: part("input"),
    },
  };
  const { parts } = screen;
  parts.head.append(h("h1", null, "Execution ", h("code", null, id)), loading("the execution"));
  append(root, [
    parts.head,
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    parts.problem,
    parts.actions,
    parts.callbacks,
    h("div", { class: "split" }, h("section", { class: "graph-section" }, h("h2", null, "Graph"), parts.graph), h("aside", null, h("h2", null, "Task"), parts.detail)),
    h("section", null, h("h2", null, "Timeline: every attempt"), parts.timeline),
    h("section", null, h("h2", null, "Execution input"), parts.input)]);
  let timer: number | undefined;
  let stopped = false;
  let paused = false; // a hidden tab is not polled; showing it again reads at once
  let latest = 0; // the newest poll: an older one still in flight schedules nothing
  const poll = async () => {
    const mine = ++latest;
    window.clearTimeout(timer);
    const again = await refresh(screen);
    if (stopped || mine !== latest || !again) return;
    if (document.hidden) paused = true;
    else timer = window.setTimeout(poll, again === "slow" ? POLL_MS * 3 : POLL_MS);
  };
  const wake = () => {
    if (paused && !document.hidden && !stopped) {
      paused = false;
      void poll();
    }
  };
  document.addEventListener("visibilitychange", wake);
  screen.refresh = () => void poll();
  void poll();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    document.removeEventListener("visibilitychange", wake);
  };
}

/** One poll: the status document, the flow version once, the history when the runs changed. Returns whether
 * to poll again ("slow" after an error that may pass). */
async function refresh(screen: Screen): Promise<boolean | "slow"> {
  const { parts, id } = screen;
  let doc: StatusDocument;
  try {
    doc = await call<StatusDocument>("GET", `/executions/${encodeURIComponent(id)}`);
    if (!screen.definition) {
      const flow = await call<FlowVersion>("GET", `/executions/${encodeURIComponent(id)}/flow`);
      screen.definition = flow.definition;
    }
  } catch (error) {
    replace(parts.problem, errorBox(error, "execution"));
    if (!screen.doc) replace(parts.head, h("h1", null, "Execution ", h("code", null, id)));
    if (isFinalError(error)) {
      if (!screen.doc) parts.head.append(h("p", null, h("a", { href: href("/executions") }, "Back to executions")));
      return false;
    }
    return "slow";
  }
  parts.problem.replaceChildren();
  screen.doc = doc;
  showHead(screen, doc);
  showActions(screen, doc);
  showCallbacks(screen, doc);
  showGraph(screen, doc);
  showDetail(screen);
  if (!parts.input.firstChild) replace(parts.input, valueBlock(doc.input, doc.input_ref, false));
  const signature = JSON.stringify([doc.status, doc.path_total, doc.run_counts, Object.values(doc.task_results).map((r) => [r.status, r.attempts])]);
  if (signature !== screen.historySignature) {
    screen.historySignature = signature;
    await loadHistory(screen);
  } else if (!FINAL_STATUSES.has(doc.status)) {
    showTimeline(screen); // the open attempts' bars grow
  }
  return !FINAL_STATUSES.has(doc.status);
}

function showHead(screen: Screen, doc: StatusDocument): void {
  setTitle(`${shortId(doc.execution_id)} ${doc.status}`, "Execution");
  const live = FINAL_STATUSES.has(doc.status) ? "final" : "live: updated every second";
  replace(
    screen.parts.head,
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: href("/executions", { flow_id: doc.flow_id }) }, `Executions of ${doc.flow_id}`),
      " / ",
      shortId(doc.execution_id),
    ),
    h("h1", null, "Execution ", h("code", null, doc.execution_id), " ", h("span", { id: "execution-status" }, badge(doc.status))),
    h(
      "p",
      { class: "meta" },
      "flow ",
      h("a", { href: href(`/flows/${encodeURIComponent(doc.flow_id)}`, { version: doc.flow_version }) }, `${doc.flow_id} v${doc.flow_version}`),
      ` (${doc.flow_name}) · created `,
      when(doc.created_at),
      " · started ",
      when(doc.started_at),
      " · ended ",
      when(doc.ended_at),
      " · ",
      duration(between(doc.started_at, doc.ended_at)),
      ` · ${doc.path_total} task run${doc.path_total === 1 ? "" : "s"} · `,
      h("span", { class: "muted" }, live),
    ),
    doc.parent
      ? h("p", { class: "meta" }, "child of ", h("a", { href: href(`/executions/${encodeURIComponent(doc.parent.execution_id)}`) }, shortId(doc.parent.execution_id)), ` (task ${doc.parent.task_name})`)
      : null,
    doc.error ? h("div", { class: "error", role: "alert" }, h("strong", null, `Execution ${doc.status.toLowerCase()}`), h("pre", null, doc.error)) : null,
  );
}

function showActions(screen: Screen, doc: StatusDocument): void {
  const box = screen.parts.actions;
  const shown = box.dataset.for;
  const key = `${doc.status}`;
  if (shown === key) return; // keep a half-done confirmation while polling
  box.dataset.for = key;
  const outcome = h("div", { class: "outcome" });
  const cancel = h(
    "button",
    {
      type: "button",
      id: "cancel",
      onclick: async () => {
        try {
          await call("POST", `/executions/${encodeURIComponent(doc.execution_id)}/cancel`);
          replace(outcome, h("p", { class: "notice", role: "status" }, "Cancelled."));
          screen.refresh?.();
        } catch (error) {
          replace(outcome, errorBox(error, "execution"));
        }
      },
    },
    "Cancel execution",
  );
  const confirm = h(
    "span",
    { class: "confirm", hidden: true },
    "Delete this execution, its task runs and its stored values? ",
    h(
      "button",
      {
        type: "button",
        class: "danger",
        id: "delete-confirm",
        onclick: async () => {
          try {
            await call("DELETE", `/executions/${encodeURIComponent(doc.execution_id)}`);
            navigate(href("/executions", { flow_id: doc.flow_id }), `Execution ${doc.execution_id} deleted.`);
          } catch (error) {
            replace(outcome, errorBox(error, "execution"));
          }
        },
      },
      "Yes, delete",
    ),
    " ",
    h("button", { type: "button", onclick: () => ((confirm.hidden = true), (remove.hidden = false)) }, "Keep it"),
  );
  const remove = h("button", { type: "button", id: "delete", onclick: () => ((confirm.hidden = false), (remove.hidden = true)) }, "Delete…");
  replace(box, h("div", { class: "row actions" }, ["CREATED", "RUNNING"].includes(doc.status) ? cancel : null, remove, confirm), outcome);
}

function showCallbacks(screen: Screen, doc: StatusDocument): void {
  const box = screen.parts.callbacks;
  const waiting = Object.values(doc.task_results).filter((r) => r.callback && r.status === "WAITING");
  const key = waiting.map((r) => r.callback?.token).join(",");
  if (box.dataset.for === key) return; // the forms keep what the user typed while polling
  box.dataset.for = key;
  replace(box, waiting.map((result) => callbackCard(screen, result)));
}

function callbackCard(screen: Screen, result: TaskResult): HTMLElement {
  const task = screen.definition?.tasks.find((t) => t.name === result.task_name);
  const asks = typeof task?.parameters?.message === "string" ? task.parameters.message : "";
  const output = h("textarea", { rows: 3, spellcheck: "false", "aria-label": "callback output (JSON)", placeholder: '{"by": "ana"}' });
  const reason = h("input", { type: "text", "aria-label": "rejection reason", placeholder: "why (optional)" });
  const outcome = h("div", { class: "outcome" });
  const send = async (body: Record<string, unknown>) => {
    try {
      await call("POST", result.callback?.url ?? "", body);
      replace(outcome, h("p", { class: "notice", role: "status" }, body.outcome === "success" ? "Approved: the run goes on." : "Rejected: the task fails and its failure edge is taken."));
      screen.refresh?.();
    } catch (error) {
      replace(outcome, errorBox(error, "callback"));
    }
  };
  return h(
    "section",
    { class: "callback", "data-task": result.task_name },
    h("h2", null, "Waiting for a decision: ", h("code", null, result.task_name)),
    asks ? h("p", null, "Its message (a template, filled in from the input): ", h("q", null, asks)) : null,
    h("p", { class: "muted" }, `Waiting since `, when(result.started_at), ". Approving completes the task with the output below; rejecting fails it."),
    h(
      "div",
      { class: "row" },
      h("label", null, "Output (JSON, optional) ", output),
      h(
        "button",
        {
          type: "button",
          class: "approve",
          onclick: () => {
            const parsed = parseJson(output.value, "The output");
            if ("problem" in parsed) replace(outcome, h("div", { class: "error", role: "alert" }, h("strong", null, "Not sent"), h("p", null, parsed.problem)));
            else void send(parsed.value === undefined ? { outcome: "success" } : { outcome: "success", output: parsed.value });
          },
        },
        "Approve",
      ),
    ),
    h(
      "div",
      { class: "row" },
      h("label", null, "Reason ", reason),
      h("button", { type: "button", class: "reject danger", onclick: () => void send(reason.value ? { outcome: "failure", error: reason.value } : { outcome: "failure" }) }, "Reject"),
    ),
    outcome,
  );
}

function showGraph(screen: Screen, doc: StatusDocument): void {
  if (!screen.definition) return;
  if (!screen.picture) {
    screen.graph = flowGraph(screen.definition);
    screen.picture = drawGraph(screen.graph, {
      captionRoom: " · waiting ×99",
      onSelect: (name) => {
        pick(screen, name);
      },
    });
    replace(screen.parts.graph, graphFrame(screen.picture), legend());
  }
  const current = doc.current_task ?? doc.path.at(-1) ?? null;
  if (!screen.picked && current !== screen.selected) {
    screen.selected = current;
    select(screen.picture, current);
  }
  if (screen.graph) paint(screen.picture, screen.graph, doc.task_results);
}

function legend(): HTMLElement {
  return h(
    "p",
    { class: "legend muted" },
    ["NOT_RUN", "PENDING", "RUNNING", "WAITING", "SUCCESS", "FAILURE", "SKIPPED"].map((s) => h("span", { class: `key node-key status-${s}` }, s.replace("_", " ").toLowerCase())),
  );
}

function showDetail(screen: Screen): void {
  const box = screen.parts.detail;
  const name = screen.selected;
  if (!name || !screen.doc) {
    replace(box, h("p", { class: "muted" }, "Select a task in the graph."));
    return;
  }
  const result = screen.doc.task_results[name];
  const attempts = screen.history.filter((event) => event.task_name === name);
  if (!result) {
    replace(box, h("h3", null, name), h("p", { class: "muted" }, "Not run (yet) in this execution."));
    return;
  }
  replace(
    box,
    h("h3", null, name, " ", badge(result.status)),
    h(
      "dl",
      null,
      h("dt", null, "attempts"),
      h("dd", null, String(result.attempts)),
      h("dt", null, "started"),
      h("dd", null, when(result.started_at)),
      h("dt", null, "ended"),
      h("dd", null, when(result.ended_at)),
      h("dt", null, "duration"),
      h("dd", null, duration(between(result.started_at, result.ended_at))),
      result.arrived_count ? [h("dt", null, "branches arrived"), h("dd", null, String(result.arrived_count))] : null,
      result.child_execution_id
        ? [h("dt", null, "child execution"), h("dd", null, h("a", { href: href(`/executions/${encodeURIComponent(result.child_execution_id)}`) }, shortId(result.child_execution_id)))]
        : null,
    ),
    result.message ? h("p", { class: "muted" }, result.message) : null,
    result.error ? [h("h4", null, "Error"), h("pre", { class: "error-text" }, result.error)] : null,
    h("h4", null, "Input"),
    valueBlock(result.input, result.input_ref, result.output_omitted),
    h("h4", null, "Output"),
    valueBlock(result.output, result.output_ref, result.output_omitted),
    attempts.length > 1
      ? [
          h("h4", null, "Attempts"),
          h("ul", null, attempts.map((a) => h("li", null, `#${a.attempt} `, badge(a.status), ` ${duration(a.duration_ms)}`, a.error ? ` — ${a.error}` : ""))),
        ]
      : null,
  );
}

function valueBlock(value: unknown, ref: PayloadRef | null, omitted: boolean): HTMLElement {
  if (ref) {
    return h(
      "p",
      { class: "muted" },
      `Kept in the payload bucket (${ref.size.toLocaleString()} bytes, sha256 ${ref.sha256.slice(0, 12)}…): `,
      h("code", null, `curl -L ${location.origin}${apiRoot}${ref.ref}`),
    );
  }
  if (omitted) return h("p", { class: "muted" }, "Too large for the status document: the history has it.");
  if (value === null || value === undefined) return h("p", { class: "muted" }, "none");
  return json(value);
}

async function loadHistory(screen: Screen): Promise<void> {
  const events: HistoryEvent[] = [];
  let cursor: string | null = null;
  let pages = 0;
  try {
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page: { events: HistoryEvent[]; next_cursor: string | null } = await call("GET", `/executions/${encodeURIComponent(screen.id)}/history?limit=50${query}`);
      events.push(...page.events);
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && pages < HISTORY_PAGES);
  } catch (error) {
    replace(screen.parts.timeline, errorBox(error, "execution"));
    return;
  }
  screen.history = events;
  showTimeline(screen, cursor !== null);
  showDetail(screen);
}

function showTimeline(screen: Screen, truncated = false): void {
  const events = screen.history;
  if (events.length === 0) {
    replace(screen.parts.timeline, h("p", { class: "muted" }, "No task has started yet."));
    return;
  }
  const starts = events.map((e) => Date.parse(e.started_at ?? "")).filter((t) => !Number.isNaN(t));
  const ends = events.map((e) => (e.ended_at ? Date.parse(e.ended_at) : Date.now())).filter((t) => !Number.isNaN(t));
  const t0 = Math.min(...starts);
  const span = Math.max(1, Math.max(...ends) - t0);
  const bar = (event: HistoryEvent) => {
    if (!event.started_at) return null; // not started: nothing to draw yet
    const start = Date.parse(event.started_at);
    const end = event.ended_at ? Date.parse(event.ended_at) : Date.now();
    const x = ((start - t0) / span) * 100;
    const width = Math.max(0.4, ((end - start) / span) * 100);
    return svg(
      "svg",
      { class: "bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true" },
      svg("rect", { class: `status-${event.status}`, x, y: 1, width: Math.min(width, 100 - x), height: 8 }),
    );
  };
  replace(
    screen.parts.timeline,
    h(
      "table",
      { class: "list timeline" },
      h("thead", null, h("tr", null, ["#", "Task", "Attempt", "Status", "Start", "End", "Duration", "", "Message or error"].map((t) => h("th", null, t)))),
      h(
        "tbody",
        null,
        events.map((event) =>
          h(
            "tr",
            { "data-task": event.task_name, "data-attempt": event.attempt },
            h("td", { class: "num" }, String(event.seq)),
            h(
              "td",
              null,
              h("a", { href: "#", onclick: (e: Event) => (e.preventDefault(), pick(screen, event.task_name), screen.parts.detail.scrollIntoView({ block: "nearest" })) }, event.task_name),
            ),
            h("td", { class: "num" }, String(event.attempt)),
            h("td", null, badge(event.status)),
            h("td", null, when(event.started_at)),
            h("td", null, when(event.ended_at)),
            h("td", { class: "num" }, duration(event.duration_ms ?? between(event.started_at, event.ended_at))),
            h("td", { class: "bar-cell" }, bar(event)),
            h("td", { class: event.error ? "error-text" : "muted" }, event.error ?? event.message ?? ""),
          ),
        ),
      ),
    ),
    truncated ? h("p", { class: "muted" }, `Showing the first ${events.length} attempts; the API's history has the rest.`) : null,
  );
}

function pick(screen: Screen, name: string): void {
  screen.selected = name;
  screen.picked = true;
  if (screen.picture) select(screen.picture, name);
  showDetail(screen);
}
