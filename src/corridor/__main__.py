from corridor.cli.main import run

run()
