from pmcards.console import main

main()
