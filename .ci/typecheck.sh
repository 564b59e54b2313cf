#!/usr/bin/env bash
# mypy --strict over the import tree as it is installed. The package layout maps
# protocols/ -> qdlpy.protocols and cli/ -> qdlpy.cli, which mypy cannot follow through
# setuptools' editable import hook, so build the same tree from symlinks and check that.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/qdlpy"
for f in "$repo"/qdlpy/*; do ln -s "$f" "$tree/qdlpy/"; done
ln -s "$repo/protocols" "$tree/qdlpy/protocols"
ln -s "$repo/cli" "$tree/qdlpy/cli"
ln -s "$repo/udev" "$tree/qdlpy/udev"
cd "$tree"
"$py" -m mypy --config-file "$repo/pyproject.toml" -p qdlpy

# The tests, strict too. Each test folder has its own conftest.py and pytest imports them
# in importlib mode, so mypy checks one folder per run (two "conftest" modules in one run
# would clash); tests/ on MYPYPATH gives every folder helpers.py and the oracle package,
# tests/e2e the real-kernel generator, and a folder's own path its support modules.
cd "$repo"
tests=(tests/*.py)
MYPYPATH="$tree:$repo/tests" "$py" -m mypy --config-file pyproject.toml "${tests[@]}"
for dir in tests/*/; do
    dir=${dir%/}
    own="$repo/$dir"
    [ -f "$dir/__init__.py" ] && own=""  # a package (the oracle): found through tests/
    MYPYPATH="$tree:$repo/tests:$repo/tests/e2e${own:+:$own}" \
        "$py" -m mypy --config-file pyproject.toml --explicit-package-bases "$dir"
done
# the fuzz harnesses, against the same tree
MYPYPATH="$tree:$repo/fuzz" "$py" -m mypy --config-file "$repo/pyproject.toml" \
    "$repo"/fuzz/*.py "$repo"/fuzz/fuzztargets
