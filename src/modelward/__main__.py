from modelward.cli import main

main()
