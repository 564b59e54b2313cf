from qdlpy.cli.main import main

main()
