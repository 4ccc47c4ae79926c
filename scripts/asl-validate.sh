#!/usr/bin/env bash
# Validate every statemachines/*.asl.json with asl-validator (npm, pinned in package.json / package-lock.json),
# an ASL checker independent of the local engine (moto's interpreter) and of cfn-lint.
#
# The definitions hold DefinitionSubstitutions placeholders (${Name}) that CloudFormation replaces at deploy time;
# they are substituted here with plausible values of the same kind (ARNs for *Arn, a table name for *TableName,
# a small number for the numeric parameters, which the ASL reads with States.StringToJson('${...}')), so that
# Resource/StateMachineArn fields are ARNs as AWS would see them. A placeholder of an unknown kind fails the
# check: add a rule below rather than letting an unchecked value through.
#
# Usage: scripts/asl-validate.sh [file.asl.json ...]   (default: statemachines/*.asl.json)
# Needs: node + `npm ci` at the repository root (node_modules/.bin/asl-validator).
set -euo pipefail

cd "$(dirname "$0")/.."
VALIDATOR=node_modules/.bin/asl-validator
if [[ ! -x "$VALIDATOR" ]]; then
  echo "asl-validate: $VALIDATOR missing; run 'npm ci' at the repository root" >&2
  exit 2
fi

files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
  files=(statemachines/*.asl.json)
fi

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

status=0
for file in "${files[@]}"; do
  substituted="$workdir/$(basename "$file")"
  if ! node - "$file" "$substituted" <<'JS'
const fs = require("fs");
const [source, target] = process.argv.slice(2);
const account = "123456789012", region = "us-east-1";
const rules = [
  [/FunctionArn$/, (n) => `arn:aws:lambda:${region}:${account}:function:kbsync-${n}`],
  [/StateMachineArn$/, (n) => `arn:aws:states:${region}:${account}:stateMachine:kbsync-${n}`],
  [/TopicArn$/, (n) => `arn:aws:sns:${region}:${account}:kbsync-${n}`],
  [/TableName$/, (n) => `kbsync-${n}-ABC123`],
  [/(Seconds|Budget|Attempts|Waits|Count)$/, () => "1"],
  [/^KnowledgeBaseLogs$/, () => "off"],
];
const unknown = new Set();
const text = fs.readFileSync(source, "utf8").replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, name) => {
  const rule = rules.find(([pattern]) => pattern.test(name));
  if (!rule) { unknown.add(name); return ""; }
  return rule[1](name);
});
if (unknown.size) {
  console.error(`${source}: placeholder(s) of unknown kind: ${[...unknown].join(", ")} (add a rule in scripts/asl-validate.sh)`);
  process.exit(1);
}
JSON.parse(text); // a substitution must keep the file valid JSON
fs.writeFileSync(target, text);
JS
  then
    status=1
    continue
  fi
  if output=$("$VALIDATOR" --json-path "$substituted" 2>&1); then
    echo "asl-validate: $file OK"
  else
    echo "asl-validate: $file INVALID" >&2
    echo "$output" | sed "s|$workdir/||g; s|^|  $file: |" >&2
    status=1
  fi
done
exit $status
