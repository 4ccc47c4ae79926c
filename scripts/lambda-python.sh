#!/usr/bin/env bash
# Prints the path of a Python interpreter of the Lambda runtime's minor version (the template's Globals Runtime),
# so that tests, builds and the Lambda runtime run one Python. Tries PATH, then pyenv's versions.
# usage: bash scripts/lambda-python.sh [TEMPLATE]     exit 2 (with the reason) when none is installed
set -uo pipefail
template=${1:-$(dirname "$0")/../template.yaml}
runtime=$(grep -m1 -E '^\s+Runtime: python3\.[0-9]+' "$template" | sed -E 's/.*Runtime: python(3\.[0-9]+).*/\1/')
[[ -n $runtime ]] || { echo "lambda-python: no 'Runtime: python3.N' in $template" >&2; exit 2; }
for candidate in "python$runtime" "$HOME"/.pyenv/versions/"$runtime".*/bin/python"$runtime" \
                 /usr/local/bin/python"$runtime" /usr/bin/python"$runtime"; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if [[ $("$path" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) == "$runtime" ]]; then
    echo "$path"; exit 0
  fi
done
echo "lambda-python: no Python $runtime found (the template's Lambda runtime is python$runtime);" \
     "install it (pyenv install $runtime) or pass PYTHON=/path/to/python$runtime" >&2
exit 2
