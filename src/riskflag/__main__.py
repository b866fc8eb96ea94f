from riskflag.cli import main

main()
