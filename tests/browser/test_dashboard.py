"""The dashboard at /ui, in Chromium, against the local stack: the graph, live colours, a callback approved from the
page, cancel and delete, deep links through reloads, and what errors say. Each view leaves a screenshot."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import screenshot
from tests.conftest import example
from tests.e2e.conftest import Client

pytestmark = pytest.mark.e2e

#: Two steps of two seconds each, the second beside a quick branch, both joining at the end: long enough to watch
#: each task change colour.
SLOW_STEPS: dict[str, Any] = {
    "id": "slow-steps",
    "name": "Prepare, then crunch beside a quick check, then publish",
    "start_task": "prepare",
    "tasks": [
        {"name": "prepare", "type": "wait", "parameters": {"seconds": 2}},
        {"name": "crunch", "type": "wait", "parameters": {"seconds": 2}},
        {"name": "quick_check", "type": "pass"},
        {"name": "publish", "type": "pass"},
    ],
    "conditions": [
        {"source_task": "prepare", "outcome": "success", "target_task_success": "crunch"},
        {"source_task": "prepare", "outcome": "success", "target_task_success": "quick_check"},
        {"source_task": "crunch", "outcome": "success", "target_task_success": "publish"},
        {"source_task": "quick_check", "outcome": "success", "target_task_success": "publish"},
    ],
}
#: A run that waits long enough to be cancelled (over 5 s, so its run parks and a timer would resume it).
PARKED: dict[str, Any] = {
    "id": "parked",
    "name": "Waits a minute",
    "start_task": "nap",
    "tasks": [{"name": "nap", "type": "wait", "parameters": {"seconds": 60}}],
}
SUCCESS_FILL = "rgb(220, 252, 231)"  # --success-fill
RUNNING_FILL = "rgb(219, 234, 254)"  # --running-fill


def node(page: Page, task: str) -> Any:
    return page.locator(f'svg.graph g.node.task[data-task="{task}"]')


def store(client: Client, definition: dict[str, Any]) -> str:
    reply = client.request("POST", "/flows", definition)
    assert reply.status in (200, 201), reply.body
    flow_id: str = reply.json()["flow_id"]
    return flow_id


def test_the_graph_of_parallel_branches_shows_every_task_its_start_and_its_join(page: Page, client: Client) -> None:
    definition = example("parallel_branches")["flow"]
    store(client, definition)

    page.goto("/ui/flows/parallel-branches")

    graph = page.locator("svg.graph")
    for task in definition["tasks"]:
        expect(graph.locator("text.name", has_text=re.compile(f"^{task['name']}$"))).to_be_visible()
    expect(node(page, "fetch")).to_have_class(re.compile(r"\bstart-task\b"))
    expect(node(page, "fetch")).to_have_class(re.compile(r"\bfork\b"))
    expect(node(page, "store")).to_have_class(re.compile(r"\bjoin\b"))
    expect(node(page, "clean")).not_to_have_class(re.compile(r"\bjoin\b"))
    # Each condition gives a success edge to its target and a failure edge to an end.
    expect(graph.locator("path.edge.success")).to_have_count(len(definition["conditions"]))
    expect(graph.locator("path.edge.failure")).to_have_count(len(definition["conditions"]))
    expect(graph.locator("g.edge-label.success text").first).to_have_text("success")
    node(page, "store").click()
    expect(page.locator(".task-detail")).to_contain_text("Both branches lead here")
    screenshot(page, "flow")


def fifty_tasks() -> dict[str, Any]:
    """A flow of 50 tasks: a fork into four branches of eleven, each with a failure path, that join; then five more,
    one of them chosen by a `when` rule."""
    tasks = [{"name": "begin", "type": "fetch_data"}]
    conditions = []
    for branch in "abcd":
        chain = [f"{branch}{step:02d}" for step in range(11)]
        tasks += [{"name": name, "type": "process_data"} for name in chain]
        conditions.append({"source_task": "begin", "outcome": "success", "target_task_success": chain[0]})
        for here, there in zip(chain, [*chain[1:], "merge"], strict=True):
            failure = "repair" if here.endswith("05") else "end"
            conditions.append(
                {"source_task": here, "outcome": "success", "target_task_success": there}
                | {"target_task_failure": failure}
            )
    tasks += [{"name": name, "type": "pass"} for name in ("repair", "merge", "big", "small", "report")]
    conditions += [
        {"source_task": "repair", "outcome": "success", "target_task_success": "merge"},
        {
            "source_task": "merge",
            "outcome": "success",
            "when": {"path": "count", "op": "gt", "value": 10},
            "target_task_success": "big",
            "target_task_failure": "small",
        },
        {"source_task": "big", "outcome": "success", "target_task_success": "report"},
        {"source_task": "small", "outcome": "success", "target_task_success": "report"},
    ]
    assert len(tasks) == 50
    return {"id": "fifty", "name": "Fifty tasks", "start_task": "begin", "tasks": tasks, "conditions": conditions}


def test_a_flow_of_fifty_tasks_is_laid_out_without_overlaps(page: Page, client: Client) -> None:
    definition = fifty_tasks()
    store(client, definition)

    page.goto("/ui/flows/fifty")

    graph = page.locator("svg.graph")
    expect(graph.locator("text.name")).to_have_count(50)
    boxes = graph.locator("g.node rect.box").evaluate_all(
        "rects => rects.map(r => { const b = r.getBBox(); const m = r.getCTM(); "
        "return [m.e + b.x, m.f + b.y, b.width, b.height]; })"
    )
    assert len(boxes) == 50
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1, "two task nodes overlap"
    expect(node(page, "merge")).to_have_class(re.compile(r"\bjoin\b"))
    expect(node(page, "report")).not_to_have_class(re.compile(r"\bjoin\b"))  # big or small runs, never both
    expect(graph.locator("g.edge-label.otherwise text")).to_have_text("otherwise")
    expect(graph.locator("g.edge-label.success text", has_text="count > 10")).to_have_count(1)
    screenshot(page, "flow-fifty-tasks")


def test_an_executions_nodes_change_colour_as_it_runs(page: Page, client: Client) -> None:
    store(client, SLOW_STEPS)
    page.goto("/ui/flows/slow-steps")

    page.get_by_role("button", name="Start execution").click()

    expect(page).to_have_url(re.compile(r"/ui/executions/[0-9a-f-]{36}$"))
    prepare, crunch, publish = node(page, "prepare"), node(page, "crunch"), node(page, "publish")
    expect(prepare).to_have_attribute("data-status", "RUNNING")
    expect(prepare.locator("rect.box")).to_have_css("fill", RUNNING_FILL)
    expect(publish).to_have_attribute("data-status", "NOT_RUN")
    expect(crunch).to_have_attribute("data-status", "RUNNING")
    expect(prepare).to_have_attribute("data-status", "SUCCESS")
    expect(prepare.locator("rect.box")).to_have_css("fill", SUCCESS_FILL)
    expect(publish).to_have_attribute("data-status", "NOT_RUN")  # the join waits for crunch
    screenshot(page, "execution-running")
    expect(page.locator("#execution-status")).to_have_text("COMPLETED")
    for task in ("prepare", "crunch", "quick_check", "publish"):
        expect(node(page, task)).to_have_attribute("data-status", "SUCCESS")
    # The timeline has every attempt, with its duration.
    rows = page.locator("table.timeline tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text(re.compile(r"prepare.*SUCCESS.*\d+(\.\d+)? s", re.DOTALL))
    screenshot(page, "execution")


def test_a_callback_is_approved_from_the_page_and_the_execution_completes(page: Page, client: Client) -> None:
    execution_id = client.start(example("approval"), {"amount": 120, "requested_by": "li"})
    page.goto(f"/ui/executions/{execution_id}")

    card = page.locator('section.callback[data-task="approve"]')
    expect(card).to_be_visible()
    expect(node(page, "approve")).to_have_attribute("data-status", "WAITING")
    card.get_by_label("callback output (JSON)").fill('{"by": "ana"}')
    screenshot(page, "execution-callback")
    card.get_by_role("button", name="Approve").click()

    expect(page.locator("#execution-status")).to_have_text("COMPLETED")
    expect(node(page, "pay")).to_have_attribute("data-status", "SUCCESS")
    expect(node(page, "rejected")).to_have_attribute("data-status", "NOT_RUN")
    expect(page.locator("section.callback")).to_have_count(0)
    document = client.request("GET", f"/executions/{execution_id}").json()
    assert document["task_results"]["pay"]["output"] == {"amount": 120, "approved_by": "ana"}


def test_a_callback_rejected_from_the_page_takes_the_failure_edge(page: Page, client: Client) -> None:
    execution_id = client.start(example("approval"), {"amount": 9000, "requested_by": "li"})
    page.goto(f"/ui/executions/{execution_id}")

    card = page.locator('section.callback[data-task="approve"]')
    card.get_by_label("rejection reason").fill("over budget")
    card.get_by_role("button", name="Reject").click()

    expect(page.locator("#execution-status")).to_have_text("COMPLETED")
    expect(node(page, "approve")).to_have_attribute("data-status", "FAILURE")
    expect(node(page, "rejected")).to_have_attribute("data-status", "SUCCESS")
    assert (
        "over budget" in client.request("GET", f"/executions/{execution_id}").json()["task_results"]["approve"]["error"]
    )


def test_cancel_then_delete_from_the_page(page: Page, client: Client) -> None:
    execution_id = client.start(PARKED)
    page.goto(f"/ui/executions/{execution_id}")
    expect(node(page, "nap")).to_have_attribute("data-status", re.compile("PENDING|RUNNING|WAITING"))

    page.get_by_role("button", name="Cancel execution").click()
    expect(page.locator("#execution-status")).to_have_text("CANCELLED")
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Yes, delete").click()

    expect(page).to_have_url(re.compile(r"/ui/executions\?flow_id=parked$"))
    expect(page.get_by_role("status")).to_contain_text(f"Execution {execution_id} deleted")
    assert client.request("GET", f"/executions/{execution_id}").status == 404
    page.goto(f"/ui/executions/{execution_id}")
    expect(page.get_by_role("alert")).to_contain_text("Not found, maybe another tenant's")


def test_every_view_opens_from_its_link_and_survives_a_reload(page: Page, client: Client) -> None:
    store(client, example("parallel_branches")["flow"])
    execution_id = client.start(example("parallel_branches"))
    client.wait_for_end(execution_id)
    views = {
        "flows": ("/ui/flows", page.locator('table.flows tr[data-flow="parallel-branches"]')),
        "flow": ("/ui/flows/parallel-branches?version=1", page.locator('svg.graph text.name:text-is("enrich")')),
        "executions": (
            "/ui/executions?flow_id=parallel-branches&status=COMPLETED",
            page.locator(f'table.executions tr[data-execution="{execution_id}"]'),
        ),
        "execution-done": (f"/ui/executions/{execution_id}", page.locator("#execution-status", has_text="COMPLETED")),
    }
    for name, (url, landmark) in views.items():
        page.goto(url)
        expect(landmark).to_be_visible()
        page.reload()
        expect(landmark).to_be_visible()
        assert page.url.endswith(url)
        if name in {"flows", "executions"}:
            screenshot(page, name)
    # Inside the page, links change the view without a load, and Back returns.
    page.goto("/ui/flows")
    page.get_by_role("link", name="parallel-branches", exact=True).click()
    expect(page).to_have_url(re.compile(r"/ui/flows/parallel-branches$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/ui/flows$"))


def test_the_executions_filters_narrow_the_list(page: Page, client: Client) -> None:
    done = client.run(example("retry"))
    page.goto("/ui/executions")
    expect(page.locator(".empty")).to_contain_text("Choose a flow")

    page.locator("#filter-flow").select_option("retry")
    expect(page).to_have_url(re.compile(r"flow_id=retry"))
    expect(page.locator(f'tr[data-execution="{done["execution_id"]}"]')).to_be_visible()
    page.locator('select[name="status"]').select_option("FAILED")
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(page.locator(".empty")).to_contain_text("No executions of retry with status FAILED")


def test_the_executions_list_pages_through_the_apis_cursor(page: Page, client: Client) -> None:
    runs = [client.run(example("data_processing"))["execution_id"] for _ in range(3)]  # newest last
    page.goto("/ui/executions?flow_id=flow123&limit=2")

    rows = page.locator("table.executions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-execution", runs[2])
    page.get_by_role("link", name="Older »").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(page.locator(f'tr[data-execution="{runs[0]}"]')).to_be_visible()
    page.reload()
    expect(page.locator(f'tr[data-execution="{runs[0]}"]')).to_be_visible()
    page.get_by_role("link", name="« Newest").click()
    expect(rows.nth(0)).to_have_attribute("data-execution", runs[2])


def test_the_token_is_sent_and_refusals_say_what_to_do(page: Page) -> None:
    """The API's answers are stood in for here: what the page sends and shows must not depend on the stack's auth."""
    sent: list[str | None] = []

    def answer(route: Route) -> None:
        sent.append(route.request.headers.get("authorization"))
        route.fulfill(status=200, content_type="application/json", body='{"flows": [], "next_cursor": null}')

    page.route("**/flows?*", answer)
    page.goto("/ui/flows")
    expect(page.locator(".empty")).to_contain_text("No flows yet")
    page.get_by_label("API token").fill("abc.def.ghi")
    page.get_by_role("button", name="Use").click()
    expect(page.locator("#token-state")).to_contain_text("token in use")
    expect(page.locator(".empty")).to_contain_text("No flows yet")
    assert sent[0] is None
    assert sent[-1] == "Bearer abc.def.ghi"
    page.unroute("**/flows?*")

    for status, says in ((401, "Sign in: paste a token"), (403, "Missing scope"), (404, "Not found, maybe another")):
        page.route("**/flows?*", refusing(status))
        page.reload()
        expect(page.get_by_role("alert")).to_contain_text(says)
        expect(page.get_by_role("alert")).to_contain_text(f"refused with {status}")
        page.unroute("**/flows?*")
    page.get_by_role("button", name="Forget").click()
    expect(page.locator("#token-state")).to_contain_text("no token")


def refusing(status: int) -> Callable[[Route], None]:
    body = json.dumps({"error": {"code": "refused", "message": f"refused with {status}", "details": []}})
    return lambda route: route.fulfill(status=status, content_type="application/json", body=body)


def test_a_flow_is_stored_from_the_page_and_a_refusal_lists_its_problems(page: Page) -> None:
    page.goto("/ui/flows")
    page.get_by_text("Store a flow").click()
    definition = page.get_by_label("Paste a flow definition")

    definition.fill(json.dumps({"id": "broken", "name": "x", "start_task": "nowhere", "tasks": []}))
    page.get_by_role("button", name="Store flow").click()
    expect(page.get_by_role("alert")).to_contain_text("The request has problems")
    expect(page.get_by_role("alert").locator("li").first).to_be_visible()

    definition.fill(json.dumps(example("pipeline")))
    page.get_by_role("button", name="Store flow").click()
    expect(page).to_have_url(re.compile(r"/ui/flows/pipeline$"))
    expect(page.get_by_role("status")).to_contain_text("Stored as version 1")
    expect(page.locator('svg.graph text.name:text-is("announce")')).to_be_visible()


def test_an_unknown_flow_and_an_unknown_page_say_so(page: Page) -> None:
    page.goto("/ui/flows/no-such-flow")
    expect(page.get_by_role("alert")).to_contain_text("Not found, maybe another tenant's")

    page.goto("/ui/nowhere")
    expect(page.locator("h1")).to_have_text("No such page")
