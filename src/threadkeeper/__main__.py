from threadkeeper.cli import main

main()
