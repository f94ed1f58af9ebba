"""Whole protocols over the stages: cached stages (stages.py), the protocol the demo and `tru bench`
share (protocol.py), the demo (demo.py) and the benchmark runners (bench/)."""
