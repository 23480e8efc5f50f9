// Builds the dashboard into functions/api/ui_dist/, which the API function serves at /ui (functions/api/dashboard.py)
// and `sam build` packages with it. Script and style get fingerprinted names; index.html names them.
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "functions", "api", "ui_dist");
// Built beside the folder and swapped in at the end, so a running stack never serves half a build.
const staging = `${dist}.building`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(join(staging, "assets"), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.ts", style: "src/style.css" },
  outdir: join(staging, "assets"),
  entryNames: "[name]-[hash]",
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "esm",
  target: "es2022",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const named = (suffix) => {
  const found = outputs.filter((name) => name.endsWith(suffix));
  if (found.length !== 1) throw new Error(`expected one *${suffix} output, got ${found}`);
  return found[0];
};
const page = readFileSync(join(here, "index.html"), "utf8")
  .replaceAll("%APP_JS%", named(".js"))
  .replaceAll("%APP_CSS%", named(".css"));
writeFileSync(join(staging, "index.html"), page);
cpSync(join(here, "public"), staging, { recursive: true });

rmSync(dist, { recursive: true, force: true });
renameSync(staging, dist);
console.log(`dashboard built into ${dist}: ${outputs.filter((name) => !name.endsWith(".map")).join(", ")}`);
