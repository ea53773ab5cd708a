from dora_impact.cli import run

run()
