"""Dataset loaders: each module turns a published dataset into CodeProblem JSONL.

    python -m loaders.mbpp --output data/mbpp.jsonl
    python -m loaders.humaneval --output data/humaneval.jsonl
    python -m loaders.humanevalplus --output data/humanevalplus.jsonl      (also loaders.mbppplus)
    python -m loaders.livecodebench --release release_v5 --output data/lcb.jsonl
    python -m loaders.deepcoder --config lcbv5 --split test --output data/deepcoder_lcbv5.jsonl
    python -m loaders.swebench --dataset oracle --output data/swebench_oracle.jsonl

Every module has `load(source=None, data_dir="data", offline=False, **config) -> list[CodeProblem]`
and the same CLI flags (--source PATH_OR_URL, --data-dir, --offline, --output). Downloads are
cached under `<data-dir>/raw/<host>/<url path>` by `loaders.download`; shared row/CLI helpers
live in `loaders.common`. `loaders.weights` is the one non-dataset module: it fetches and verifies
the GGUF model files `make serve` runs (see README, "A real model on this machine").
"""
