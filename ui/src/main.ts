// The dashboard's entry point: the token field, and the routes of every view.

import { setToken, token } from "./api";
import { h } from "./dom";
import { href, render, start, type Context } from "./router";
import { empty, setTitle } from "./ui";
import { executionView } from "./views/execution";
import { executionsView } from "./views/executions";
import { flowView } from "./views/flow";
import { flowsView } from "./views/flows";

function notFound({ root }: Context): void {
  setTitle("Not found");
  root.append(
    h("h1", null, "No such page"),
    empty(
      `The dashboard has no page at ${location.pathname}.`,
      "Go to the ",
      h("a", { href: href("/flows") }, "flows"),
      " or the ",
      h("a", { href: href("/executions") }, "executions"),
      ".",
    ),
  );
}

function tokenField(): void {
  const form = document.getElementById("token-form") as HTMLFormElement | null;
  const input = document.getElementById("token-input") as HTMLInputElement | null;
  const clear = document.getElementById("token-clear");
  const state = document.getElementById("token-state");
  if (!form || !input || !clear || !state) return;
  const show = () => {
    state.textContent = token() ? "token in use (this tab only)" : "no token: the local stack's development tenant";
    input.value = "";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim().replace(/^Bearer\s+/i, "") || null);
    show();
    render();
  });
  clear.addEventListener("click", () => {
    setToken(null);
    show();
    render();
  });
  show();
}

tokenField();
start(
  document.getElementById("view") as HTMLElement,
  [
    { pattern: /^\/(flows)?$/, view: flowsView, nav: "flows" },
    { pattern: /^\/flows\/(?<id>[^/]+)$/, view: flowView, nav: "flows" },
    { pattern: /^\/executions$/, view: executionsView, nav: "executions" },
    { pattern: /^\/executions\/(?<id>[^/]+)$/, view: executionView, nav: "executions" },
  ],
  notFound,
);
