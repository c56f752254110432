from qtlgraph.cli import main

main()
