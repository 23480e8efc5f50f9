// A flow definition as a graph: tasks as nodes, each condition's two edges labelled with what takes them, laid
// out by dagre and drawn as SVG (task names are <text>, selectable and findable).
//
// Routing, as the README says it: when task T ends, each condition with source_task T goes to
// target_task_success if the result matches its `outcome` (and its `when` on T's output), else to
// target_task_failure; several conditions on one task run their targets as parallel branches; `end` (any case)
// or null ends the branch; a flow without conditions runs its tasks in list order and stops at a failure.

import dagre from "@dagrejs/dagre";
import { svg } from "./dom";

export interface TaskDefinition {
  name: string;
  type?: string;
  description?: string;
  parameters?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface ConditionDefinition {
  name?: string;
  source_task: string;
  outcome?: string;
  target_task_success?: string | null;
  target_task_failure?: string | null;
  when?: unknown;
}

export interface FlowDefinition {
  id: string;
  name?: string;
  start_task?: string;
  tasks: TaskDefinition[];
  conditions?: ConditionDefinition[];
}

export type EdgeKind = "success" | "failure" | "otherwise" | "start" | "ends";

export interface GraphNode {
  id: string;
  kind: "task" | "start" | "end";
  name: string;
  type: string;
  description: string;
  start: boolean;
  join: boolean;
  fork: boolean;
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  label: string;
  title: string;
  /** The index of the condition the edge comes from, if one does. */
  condition?: number;
}

export interface FlowGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const START = "start:";
const END = "end:";
const taskId = (name: string) => `task:${name}`;

export function flowGraph(definition: FlowDefinition): FlowGraph {
  const tasks = definition.tasks ?? [];
  const names = new Set(tasks.map((task) => task.name));
  const conditions = definition.conditions ?? [];
  const edges: GraphEdge[] = [];
  const target = (name: string | null | undefined): string | null => {
    if (name === null || name === undefined || name.toLowerCase() === "end") return END;
    return names.has(name) ? taskId(name) : null;
  };
  const startTask = definition.start_task ?? tasks[0]?.name;
  if (startTask && names.has(startTask)) {
    edges.push({ from: START, to: taskId(startTask), kind: "start", label: "", title: "the execution starts here" });
  }
  if (conditions.length === 0) {
    // No conditions: list order, stopping at the first failure.
    tasks.forEach((task, index) => {
      const next = tasks[index + 1];
      edges.push({
        from: taskId(task.name),
        to: next ? taskId(next.name) : END,
        kind: "success",
        label: "success",
        title: next ? "no conditions: the next task in list order, on success" : "the last task in list order",
      });
    });
  }
  conditions.forEach((condition, index) => {
    const outcome = condition.outcome ?? "success";
    const other = outcome === "success" ? "failure" : "success";
    const rule = condition.when === undefined || condition.when === null ? "" : describeWhen(condition.when);
    const named = condition.name ? `condition ${condition.name}: ` : "";
    const matched = target(condition.target_task_success);
    const unmatched = target(condition.target_task_failure);
    if (matched) {
      edges.push({
        from: taskId(condition.source_task),
        to: matched,
        kind: outcome === "failure" ? "failure" : "success",
        label: rule ? `${outcome} and ${rule}` : outcome,
        title: `${named}taken on ${outcome}${rule ? ` when ${rule}` : ""}`,
        condition: index,
      });
    }
    if (unmatched) {
      edges.push({
        from: taskId(condition.source_task),
        to: unmatched,
        kind: rule ? "otherwise" : other === "failure" ? "failure" : "success",
        label: rule ? "otherwise" : other,
        title: `${named}taken ${rule ? `unless ${outcome} and ${rule}` : `on ${other}`}`,
        condition: index,
      });
    }
  });
  if (conditions.length > 0) {
    // A task no condition leaves from ends its branch when it ends.
    const leaving = new Set(conditions.map((condition) => condition.source_task));
    for (const task of tasks) {
      if (!leaving.has(task.name)) {
        edges.push({ from: taskId(task.name), to: END, kind: "ends", label: "", title: "no condition leaves this task: its branch ends with it" });
      }
    }
  }
  const conditionsPerTask = new Map<string, number>();
  for (const condition of conditions) {
    conditionsPerTask.set(condition.source_task, (conditionsPerTask.get(condition.source_task) ?? 0) + 1);
  }
  const joins = joinTasks(edges);
  const nodes: GraphNode[] = tasks.map((task) => ({
    id: taskId(task.name),
    kind: "task",
    name: task.name,
    type: task.type ?? "pass",
    description: task.description ?? "",
    start: task.name === startTask,
    join: joins.has(taskId(task.name)),
    fork: (conditionsPerTask.get(task.name) ?? 0) > 1,
  }));
  const terminal = (id: string, name: string): GraphNode => ({
    id,
    kind: id === START ? "start" : "end",
    name,
    type: "",
    description: "",
    start: false,
    join: false,
    fork: false,
  });
  if (edges.some((edge) => edge.from === START)) nodes.unshift(terminal(START, "start"));
  // Each task that can end a branch gets an end of its own, beside it, rather than one end every branch crosses
  // the graph to reach.
  for (const edge of edges) {
    if (edge.to !== END) continue;
    edge.to = `${END}${edge.from}`;
    if (!nodes.some((node) => node.id === edge.to)) nodes.push(terminal(edge.to, "end"));
  }
  return { nodes, edges };
}

/** The tasks parallel branches meet at. The conditions of a task each run their target as a branch of its own;
 * a task is a join when two of its incoming edges come from tasks that separate branches of one such task reach
 * (no branch reaches both). Paths that meet after a choice (a handled failure, a `when`) are not joins, since only
 * one of them runs; nor is what follows a join, which every branch reaches. */
function joinTasks(edges: GraphEdge[]): Set<string> {
  const isTask = (id: string) => id.startsWith("task:");
  const taskEdges = edges.filter((edge) => isTask(edge.from) && isTask(edge.to));
  const next = new Map<string, string[]>();
  for (const edge of taskEdges) next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
  const reach = (starts: string[]): Set<string> => {
    const seen = new Set<string>();
    const queue = [...starts];
    while (queue.length) {
      const id = queue.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      queue.push(...(next.get(id) ?? []));
    }
    return seen;
  };
  const forks = new Map<string, Map<number, string[]>>();
  for (const edge of taskEdges) {
    if (edge.condition === undefined) continue;
    const branches = forks.get(edge.from) ?? new Map<number, string[]>();
    branches.set(edge.condition, [...(branches.get(edge.condition) ?? []), edge.to]);
    forks.set(edge.from, branches);
  }
  const joins = new Set<string>();
  for (const [fork, branches] of forks) {
    if (branches.size < 2) continue;
    const reached = [...branches].map(([condition, targets]) => ({ condition, tasks: reach(targets) }));
    const branchesOf = (edge: GraphEdge): Set<number> =>
      edge.from === fork && edge.condition !== undefined
        ? new Set([edge.condition])
        : new Set(reached.filter((branch) => branch.tasks.has(edge.from)).map((branch) => branch.condition));
    const incoming = new Map<string, { from: string; branches: Set<number> }[]>();
    for (const edge of taskEdges) incoming.set(edge.to, [...(incoming.get(edge.to) ?? []), { from: edge.from, branches: branchesOf(edge) }]);
    for (const [task, arrivals] of incoming) {
      const apart = (a: Set<number>, b: Set<number>) => a.size > 0 && b.size > 0 && [...a].every((i) => !b.has(i));
      const meets = arrivals.some((a) => arrivals.some((b) => a.from !== b.from && apart(a.branches, b.branches)));
      if (meets) joins.add(task);
    }
  }
  return joins;
}

const OPERATORS: Record<string, string> = {
  eq: "==",
  ne: "!=",
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
  in: "in",
  contains: "contains",
};

/** A `when` rule as one line: `count > 10`, `output.a > input.b`, `(a and not b)`. */
export function describeWhen(rule: unknown): string {
  if (typeof rule !== "object" || rule === null) return JSON.stringify(rule);
  const r = rule as Record<string, unknown>;
  if (Array.isArray(r.all)) return `(${r.all.map(describeWhen).join(" and ")})`;
  if (Array.isArray(r.any)) return `(${r.any.map(describeWhen).join(" or ")})`;
  if ("not" in r) return `not ${describeWhen(r.not)}`;
  if (typeof r.expr === "string") return r.expr;
  if (typeof r.path === "string") {
    const op = String(r.op ?? "eq");
    if (op === "exists") return `${r.path} exists`;
    if (op === "not_exists") return `${r.path} does not exist`;
    return `${r.path} ${OPERATORS[op] ?? op} ${JSON.stringify(r.value)}`;
  }
  return JSON.stringify(rule);
}

// -- layout --------------------------------------------------------------------------------------------------

const FONT_NAME = "600 14px system-ui, sans-serif";
const FONT_SMALL = "12px system-ui, sans-serif";
const NODE_HEIGHT = 50;
const LABEL_LIMIT = 42;

let measurer: CanvasRenderingContext2D | null = null;
function textWidth(text: string, font: string): number {
  measurer ??= document.createElement("canvas").getContext("2d");
  if (!measurer) return text.length * 8;
  measurer.font = font;
  return measurer.measureText(text).width;
}

function clip(text: string): string {
  return text.length > LABEL_LIMIT ? `${text.slice(0, LABEL_LIMIT - 1)}…` : text;
}

export function nodeCaption(node: GraphNode): string {
  const marks = [node.type, node.join ? "join" : "", node.fork ? "parallel" : ""].filter(Boolean);
  return marks.join(" · ");
}

interface Placed {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Laid {
  width: number;
  height: number;
  nodes: Map<string, Placed>;
  edges: { edge: GraphEdge; points: { x: number; y: number }[]; label: Placed | null }[];
}

/** Positions from dagre. `captionRoom` is the longest caption the node must hold (the status adds to it). */
export function layout(graph: FlowGraph, captionRoom = ""): Laid {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 48, edgesep: 14, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) {
    if (node.kind === "task") {
      const width = Math.max(textWidth(node.name, FONT_NAME), textWidth(nodeCaption(node) + captionRoom, FONT_SMALL)) + 32;
      g.setNode(node.id, { width: Math.max(110, Math.ceil(width)), height: NODE_HEIGHT });
    } else {
      g.setNode(node.id, { width: 64, height: 28 });
    }
  }
  graph.edges.forEach((edge, index) => {
    const label = clip(edge.label);
    g.setEdge(
      edge.from,
      edge.to,
      label ? { width: Math.ceil(textWidth(label, FONT_SMALL)) + 10, height: 18, labelpos: "c" } : {},
      `e${index}`,
    );
  });
  dagre.layout(g);
  const nodes = new Map<string, Placed>();
  for (const id of g.nodes()) {
    const placed = g.node(id);
    nodes.set(id, { x: placed.x ?? 0, y: placed.y ?? 0, width: placed.width, height: placed.height });
  }
  const edges = graph.edges.map((edge, index) => {
    const placed = g.edge({ v: edge.from, w: edge.to, name: `e${index}` });
    const label =
      edge.label && placed.x !== undefined && placed.y !== undefined
        ? { x: placed.x, y: placed.y, width: placed.width ?? 0, height: placed.height ?? 0 }
        : null;
    return { edge, points: placed.points ?? [], label };
  });
  const size = g.graph();
  return { width: Math.ceil(size.width ?? 0), height: Math.ceil(size.height ?? 0), nodes, edges };
}

/** A smooth path through dagre's points: the B-spline of d3's curveBasis, which ends on the last point. */
export function splinePath(points: { x: number; y: number }[]): string {
  const f = (n: number) => n.toFixed(1);
  let d = "";
  let [x0, y0, x1, y1] = [NaN, NaN, NaN, NaN];
  const bezier = (x: number, y: number) => {
    d += `C${f((2 * x0 + x1) / 3)},${f((2 * y0 + y1) / 3)} ${f((x0 + 2 * x1) / 3)},${f((y0 + 2 * y1) / 3)} `;
    d += `${f((x0 + 4 * x1 + x) / 6)},${f((y0 + 4 * y1 + y) / 6)}`;
  };
  points.forEach(({ x, y }, index) => {
    if (index === 0) d += `M${f(x)},${f(y)}`;
    else if (index >= 2) {
      if (index === 2) d += `L${f((5 * x0 + x1) / 6)},${f((5 * y0 + y1) / 6)}`;
      bezier(x, y);
    }
    [x0, y0, x1, y1] = [x1, y1, x, y];
  });
  if (points.length >= 3) bezier(x1, y1);
  if (points.length >= 2) d += `L${f(x1)},${f(y1)}`;
  return d;
}

// -- drawing -------------------------------------------------------------------------------------------------

export interface DrawOptions {
  /** Room for the status the execution view writes into each caption. */
  captionRoom?: string;
  onSelect?: (taskName: string) => void;
}

export function drawGraph(graph: FlowGraph, options: DrawOptions = {}): SVGSVGElement {
  const laid = layout(graph, options.captionRoom ?? "");
  const kinds: EdgeKind[] = ["success", "failure", "otherwise", "start", "ends"];
  const root = svg(
    "svg",
    {
      class: "graph",
      viewBox: `0 0 ${laid.width} ${laid.height}`,
      width: laid.width,
      height: laid.height,
      role: "img",
      "aria-label": `flow graph: ${graph.nodes.filter((n) => n.kind === "task").length} tasks`,
      "data-natural-width": laid.width,
    },
    svg(
      "defs",
      null,
      kinds.map((kind) =>
        svg(
          "marker",
          {
            id: `arrow-${kind}`,
            class: `arrow ${kind}`,
            viewBox: "0 0 10 10",
            refX: 9,
            refY: 5,
            markerWidth: 7,
            markerHeight: 7,
            orient: "auto-start-reverse",
          },
          svg("path", { d: "M0,0L10,5L0,10z" }),
        ),
      ),
    ),
  );
  const edgeLayer = svg("g", { class: "edges" });
  const labelLayer = svg("g", { class: "edge-labels" });
  for (const { edge, points, label } of laid.edges) {
    edgeLayer.appendChild(
      svg(
        "path",
        {
          class: `edge ${edge.kind}`,
          d: splinePath(points),
          "marker-end": `url(#arrow-${edge.kind})`,
          "data-from": edge.from,
          "data-to": edge.to,
        },
        svg("title", null, edge.title),
      ),
    );
    if (label) {
      labelLayer.appendChild(
        svg(
          "g",
          { class: `edge-label ${edge.kind}`, transform: `translate(${label.x},${label.y})` },
          svg("title", null, edge.title),
          svg("rect", { x: -label.width / 2, y: -label.height / 2, width: label.width, height: label.height, rx: 4 }),
          svg("text", { "text-anchor": "middle", "dominant-baseline": "central" }, clip(edge.label)),
        ),
      );
    }
  }
  const nodeLayer = svg("g", { class: "nodes" });
  for (const node of graph.nodes) {
    const placed = laid.nodes.get(node.id);
    if (!placed) continue;
    nodeLayer.appendChild(drawNode(node, placed, options));
  }
  root.append(edgeLayer, nodeLayer, labelLayer);
  return root;
}

function drawNode(node: GraphNode, placed: Placed, options: DrawOptions): SVGGElement {
  const { width, height } = placed;
  const at = `translate(${placed.x - width / 2},${placed.y - height / 2})`;
  if (node.kind !== "task") {
    return svg(
      "g",
      { class: `node terminal ${node.kind}`, transform: at },
      svg("rect", { width, height, rx: height / 2 }),
      svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", "dominant-baseline": "central" }, node.name),
    );
  }
  const classes = ["node", "task", node.start ? "start-task" : "", node.join ? "join" : "", node.fork ? "fork" : ""];
  const group = svg(
    "g",
    {
      class: classes.filter(Boolean).join(" "),
      transform: at,
      "data-task": node.name,
      "data-status": "",
      tabindex: options.onSelect ? 0 : null,
      role: options.onSelect ? "button" : null,
      "aria-label": `task ${node.name}`,
    },
    svg("title", null, [node.name, node.type, node.description].filter(Boolean).join(" — ")),
    svg("rect", { class: "box", width, height, rx: 8 }),
    node.join ? svg("rect", { class: "join-ring", x: -4, y: -4, width: width + 8, height: height + 8, rx: 11 }) : null,
    svg("text", { class: "name", x: width / 2, y: 20, "text-anchor": "middle" }, node.name),
    svg("text", { class: "caption", x: width / 2, y: 38, "text-anchor": "middle" }, nodeCaption(node)),
  );
  if (options.onSelect) {
    const select = options.onSelect;
    group.addEventListener("click", () => select(node.name));
    group.addEventListener("keydown", (event) => {
      if ((event as KeyboardEvent).key === "Enter" || (event as KeyboardEvent).key === " ") {
        event.preventDefault();
        select(node.name);
      }
    });
  }
  return group;
}

export interface TaskState {
  status: string;
  attempts?: number | null;
}

/** Colour each task node by its status (`data-status` and a `status-*` class), and say it in its caption. */
export function paint(root: SVGSVGElement, graph: FlowGraph, states: Record<string, TaskState | undefined>): void {
  for (const node of graph.nodes) {
    if (node.kind !== "task") continue;
    const group = root.querySelector<SVGGElement>(`g.node.task[data-task="${CSS.escape(node.name)}"]`);
    if (!group) continue;
    const state = states[node.name];
    const status = state?.status ?? "NOT_RUN";
    if (group.dataset.status !== status) {
      group.classList.forEach((name) => name.startsWith("status-") && group.classList.remove(name));
      group.classList.add(`status-${status}`);
      group.dataset.status = status;
    }
    const attempts = state?.attempts && state.attempts > 1 ? ` ×${state.attempts}` : "";
    const caption = state ? `${nodeCaption(node)} · ${status.toLowerCase()}${attempts}` : nodeCaption(node);
    const text = group.querySelector("text.caption");
    if (text && text.textContent !== caption) text.textContent = caption;
  }
}

export function select(root: SVGSVGElement, taskName: string | null): void {
  root.querySelectorAll("g.node.task.selected").forEach((node) => node.classList.remove("selected"));
  if (taskName) root.querySelector(`g.node.task[data-task="${CSS.escape(taskName)}"]`)?.classList.add("selected");
}

/** The graph in a scrolling frame, with a toggle between its natural size and the frame's width. */
export function graphFrame(graphSvg: SVGSVGElement): HTMLElement {
  const frame = document.createElement("div");
  frame.className = "graph-frame";
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "zoom";
  toggle.textContent = "Fit to width";
  toggle.addEventListener("click", () => {
    const fit = frame.classList.toggle("fit");
    toggle.textContent = fit ? "Actual size" : "Fit to width";
  });
  frame.append(toggle, graphSvg);
  return frame;
}
