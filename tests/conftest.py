"""Shared pytest configuration: the opt-in `real_llm` marker.

Tests marked `real_llm` need llama.cpp's server and real GGUF weights (tests/test_real_llm.py,
`make test-real`). They are deselected unless the -m expression names the marker, so `make test`
stays fast and offline without any flag.
"""


def pytest_configure(config):
    config.addinivalue_line("markers", "real_llm: runs a real model on llama.cpp (make test-real); opt-in")


def pytest_collection_modifyitems(config, items):
    if "real_llm" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("real_llm") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("real_llm")])
        items[:] = kept
