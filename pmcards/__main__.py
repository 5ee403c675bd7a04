from pmcards.cli import main

main()
