"""Test harness for laurel's compatibility suite: real servers on free ports."""
