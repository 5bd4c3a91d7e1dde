"""The demo dataset's generator: ``python -m tools.demo.generate`` writes ``cli/demo/demo.jsonl``."""
