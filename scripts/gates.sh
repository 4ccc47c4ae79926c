#!/usr/bin/env bash
# Static gates on the template AS DEPLOYED (after `sam package` + the SAM transform; no AWS call):
#   1. cfn-lint + serverless rules on the deployed CloudFormation (roles, rules, state machines included);
#   2. cfn-lint + serverless rules on the SAM source (what `sam validate --lint` runs: cfn-lint on the SAM file);
#   3. checkov (--framework cloudformation, offline: --skip-download) from its own venv (.venv-checkov).
# Zero findings. The ONLY way to skip a check is an entry, with its reason, in gates/skips.yaml.
#
# usage: bash scripts/gates.sh [TEMPLATE]      (default template.yaml; env GATES_SKIPS, CHECKOV override paths)
# exit:  0 every gate passed; 1 a gate found something; 2 the gates could not run (missing tool, bad skips file)
set -uo pipefail
cd "$(dirname "$0")/.."

TEMPLATE=${1:-${GATES_TEMPLATE:-template.yaml}}
SKIPS=${GATES_SKIPS:-gates/skips.yaml}
PYTHON=${PYTHON:-.venv/bin/python}
CFN_LINT=${CFN_LINT:-.venv/bin/cfn-lint}
CHECKOV=${CHECKOV:-.venv-checkov/bin/checkov}

for tool in "$PYTHON" "$CFN_LINT"; do
  [[ -x $tool ]] || { echo "gates: $tool missing: run 'make dev' first" >&2; exit 2; }
done
[[ -x $CHECKOV ]] || { echo "gates: $CHECKOV missing: run 'make .venv-checkov' first" >&2; exit 2; }
[[ -f $TEMPLATE ]] || { echo "gates: template $TEMPLATE not found" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kbsync-gates.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "gates: transforming $TEMPLATE (skips: $SKIPS)"
"$PYTHON" gates/prepare.py --template "$TEMPLATE" --skips "$SKIPS" --out "$work" || exit 2
mapfile -t cfn_lint_args < "$work/cfn-lint.args"
mapfile -t checkov_args < "$work/checkov.args"

failed=()
gate() {
  local name=$1; shift
  echo "gates: --- $name"
  if "$@" 2>&1; then
    echo "gates: ok   $name"
  else
    echo "gates: FAIL $name (exit $?)"
    failed+=("$name")
  fi
}

gate "cfn-lint (deployed form, serverless rules)" \
  "$CFN_LINT" -a cfn_lint_serverless.rules "${cfn_lint_args[@]}" -- "$work/deployed.json"
gate "cfn-lint (SAM source, = sam validate --lint)" \
  "$CFN_LINT" -a cfn_lint_serverless.rules "${cfn_lint_args[@]}" -- "$work/source.json"
gate "checkov (deployed form)" \
  "$CHECKOV" --framework cloudformation --skip-download --quiet --compact \
  "${checkov_args[@]}" -f "$work/deployed.json"

if ((${#failed[@]})); then
  printf 'gates: %d gate(s) failed:' "${#failed[@]}"; printf ' [%s]' "${failed[@]}"; echo
  echo "gates: fix the template, or add a skip WITH ITS REASON to $SKIPS"
  exit 1
fi
echo "gates: all gates passed"
