"""Benchmark harness: fake Graph + Bot Connector, a load generator, anchor bots and the runner."""
