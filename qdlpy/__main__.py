"""``python -m qdlpy``: the same as the ``qdlpy`` command."""

from qdlpy.cli.main import main

main()
