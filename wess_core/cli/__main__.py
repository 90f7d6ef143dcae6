from wess_core.cli import main

main()
