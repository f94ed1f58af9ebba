"""The command line of a short `tru unlearn` run on the tiny model, shared by the tests that run one."""


def unlearn_args(data, out, *extra):
    return [
        "unlearn",
        "--model",
        "tiny-llama",
        "--out",
        str(out),
        "--forget",
        data["forget"],
        "--retain",
        data["retain"],
        "--targets",
        data["targets"],
        "--refusals",
        data["refusals"],
        "--max-steps",
        "1",
        "--report-to",
        "none",
        "--max-length",
        "128",
        *extra,
    ]
