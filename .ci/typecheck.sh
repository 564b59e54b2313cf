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
# the fuzz harnesses, against the same tree
MYPYPATH="$tree:$repo/fuzz" "$py" -m mypy --config-file "$repo/pyproject.toml" \
    "$repo"/fuzz/*.py "$repo"/fuzz/fuzztargets
