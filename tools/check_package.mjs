// The browser client as a web developer gets it: `npm pack` of web/, the
// tarball installed into a scratch project, then imported under node,
// type-checked by tsc (node16 and bundler resolution) and bundled by
// esbuild, whose bundle runs. Run by `make test-web`; no registry needed
// (the package has no dependencies; react resolves from this repo's
// node_modules, above the scratch project).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, "target");
const WORK = path.join(TARGET, "package-check");
const BIN = path.join(ROOT, "node_modules", ".bin");
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });

// The package's version is the project's (CHANGELOG.md: one version).
const pkg = JSON.parse(readFileSync(path.join(ROOT, "web", "package.json"), "utf8"));
const cargo = readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
assert.equal(`version = "${pkg.version}"`, /^version = "[^"]+"/m.exec(cargo)?.[0], "web/package.json and Cargo.toml disagree on the version");

const packed = JSON.parse(run("npm", ["pack", path.join(ROOT, "web"), "--pack-destination", WORK, "--json", "--loglevel=error"], ROOT));
const tarball = path.join(WORK, packed[0].filename);
const files = packed[0].files.map((f) => f.path).sort();
for (const f of ["boomerang-client.js", "boomerang-client.d.ts", "client/socket.js", "client/election.js", "react/useBoomerang.js", "react/useBoomerang.d.ts"]) {
  assert.ok(files.includes(f), `the tarball lacks ${f}: ${files.join(", ")}`);
}
for (const f of files) assert.ok(!/^(test|demo|index\.html|tsconfig)/.test(f), `the tarball ships ${f}`);

const app = path.join(WORK, "app");
mkdirSync(app);
writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "scratch-app", private: true, type: "module" }));
run("npm", ["install", tarball, "--no-audit", "--no-fund", "--loglevel=error", "--offline"], app);

// Under node: both entry points, by their package names.
const consumer = `
import { connect, Sequencer, uploadFile, MAX_EVENTS_PAGE } from "@boomerang-push/client";
import { useBoomerang } from "@boomerang-push/client/react";
if (typeof connect !== "function" || typeof useBoomerang !== "function" || typeof uploadFile !== "function") throw new Error("missing exports");
const seq = new Sequencer(0);
const out = seq.accept([{ seq: 2 }, { seq: 1 }]).map((e) => e.seq);
if (out.join() !== "1,2" || MAX_EVENTS_PAGE !== 500) throw new Error("the client does not work: " + out);
console.log("ok");
`;
writeFileSync(path.join(app, "consumer.js"), consumer);
assert.equal(run("node", ["consumer.js"], app).trim(), "ok");

// tsc: a typed consumer, with node16's and a bundler's module resolution.
writeFileSync(
  path.join(app, "typed.ts"),
  `import { connect, type BoomerangEvent, type ConnectOptions } from "@boomerang-push/client";
import { useBoomerang, type UseBoomerangOptions } from "@boomerang-push/client/react";
const options: ConnectOptions = { wsUrl: "wss://x", apiUrl: "https://x", getToken: async () => "t", onEvent: (e: BoomerangEvent) => void e.seq };
const hook: UseBoomerangOptions = { ...options, user: "alice" };
export const used = [connect, useBoomerang, hook] as const;
// @ts-expect-error wsUrl is required
export const wrong: ConnectOptions = { apiUrl: "https://x", getToken: async () => "t" };
`,
);
for (const resolution of [["--module", "node16", "--moduleResolution", "node16"], ["--module", "esnext", "--moduleResolution", "bundler"]]) {
  run(path.join(BIN, "tsc"), ["--noEmit", "--strict", "--skipLibCheck", "false", "--target", "es2022", "--lib", "es2022,dom", ...resolution, "typed.ts"], app);
}

// A bundler: one file, the client inside it, which runs.
run(path.join(BIN, "esbuild"), ["consumer.js", "--bundle", "--format=esm", "--platform=browser", "--outfile=bundle.js", "--log-level=warning"], app);
const bundle = readFileSync(path.join(app, "bundle.js"), "utf8");
assert.ok(!/from\s+["']@boomerang-push\/client/.test(bundle), "the bundle still imports the package");
assert.equal(run("node", ["bundle.js"], app).trim(), "ok");

console.log(`${pkg.name} ${pkg.version}: packed (${files.length} files), installed, imported, type-checked, bundled`);
