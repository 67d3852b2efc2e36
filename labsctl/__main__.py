from labsctl.cli import main

main()
