from dyno.cli.main import main

main()
