"""The one validation layer (vmm.options): a table of bad values for every subcommand's options,
each refused by the parser with one line naming the option, exit status 2, before any work;
and the good spellings, QEMU's included, read as intended."""

import pytest

from vmm import options
from vmm.cli import build_parser, parse

IMAGE = "examples/images/hello.elf"

BAD = [
    # (arguments, words the one line must contain)
    (["run", IMAGE, "-m", "0"], ["-m/--memory", "2..3072 MiB"]),
    (["run", IMAGE, "-m", "-4"], ["-m/--memory", "a size in MiB"]),
    (["run", IMAGE, "-m", "64Q"], ["-m/--memory", "suffix"]),
    (["run", IMAGE, "-m", "1025K"], ["-m/--memory", "whole number of MiB"]),
    (["run", IMAGE, "-m", "4G"], ["-m/--memory", "2..3072"]),
    (["inspect", IMAGE, "-m", "0"], ["vmm inspect", "-m/--memory"]),
    (["inspect", IMAGE, "-m", "lots"], ["vmm inspect", "-m/--memory"]),
    (["run", IMAGE, "--load-address", "zzz"], ["--load-address", "whole number", "'zzz'"]),
    (["run", IMAGE, "--load-address", "0x100000000"], ["--load-address", "0xffffffff"]),
    (["run", IMAGE, "--load-address", "-1"], ["--load-address", "0..0xffffffff"]),
    (["inspect", IMAGE, "--at", "main"], ["--at", "'main'"]),
    (["run", IMAGE, "--timeout", "nan"], ["--timeout", "finite"]),
    (["run", IMAGE, "--timeout", "-1"], ["--timeout", ">= 0"]),
    (["run", IMAGE, "--timeout", "inf"], ["--timeout", "finite"]),
    (["run", IMAGE, "--timeout", "soon"], ["--timeout", "number of seconds"]),
    (["run", IMAGE, "--max-insns", "-5"], ["--max-insns", "negative"]),
    (["run", IMAGE, "--max-insns", "1e6"], ["--max-insns", "whole number"]),
    (["inspect", IMAGE, "--run", "-1"], ["--run", "negative"]),
    (["inspect", IMAGE, "--top", "0"], ["--top", "at least 1"]),
    (["run", IMAGE, "--serial", "tcp::4444"], ["--serial", "stdio, null or file:PATH"]),
    (["run", IMAGE, "--serial", "file:"], ["--serial"]),
    (["run", IMAGE, "--serial", "file:/no/such/dir/out.txt"], ["--serial", "'/no/such/dir' does not exist"]),
    (["inspect", IMAGE, "--html", "/no/such/dir/r.html"], ["--html", "does not exist"]),
    (["inspect", IMAGE, "--html", "/tmp"], ["--html", "is a directory"]),
    (["bench", "--sizes", "abc"], ["--sizes", "'abc'"]),
    (["bench", "--sizes", "10,,20"], ["--sizes"]),
    (["bench", "--sizes", "0"], ["--sizes", ">= 1"]),
    (["bench", "--micro-n", "0"], ["--micro-n", "at least 1"]),
    (["bench", "--interp-iters", "x"], ["--interp-iters", "whole number"]),
    (["bench", "--out-dir", "/no/such/dir/out"], ["--out-dir", "does not exist"]),
    (["bench", "--out-dir", "/etc/hostname"], ["--out-dir", "is a file"]),
    (["run", IMAGE, "--engine", "qemu"], ["--engine", "invalid choice"]),
    (["run", "x", "-kernel"], ["vmm run:", "-kernel", "--kernel"]),
]


@pytest.mark.parametrize("argv, words", BAD, ids=[" ".join(argv[2:] or argv) for argv, _ in BAD])
def test_bad_option_is_one_line_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(build_parser(), argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and err.startswith(f"vmm {argv[0]}: "), err
    for word in words:
        assert word in err, (word, err)
    assert "_int" not in err and "function" not in err and "Traceback" not in err


@pytest.mark.parametrize("text, mb", [("128", 128), ("64M", 64), ("64m", 64), ("1G", 1024), ("2048K", 2),
                                      (" 32 ", 32), ("3072", 3072)])
def test_memory_sizes_as_qemu(text, mb):
    assert options.memory_mb(text) == mb


def test_good_values():
    assert options.address("0x100000") == options.address("1048576") == 0x100000
    assert options.address_or_entry("entry") == "entry"
    assert options.seconds("0") == 0.0 and options.seconds("2.5") == 2.5
    assert options.count("0") == 0 and options.positive("0x10") == 16
    assert options.sizes("10, 200") == (10, 200)
    assert options.serial("null").open(None) is None and options.serial("stdio").open("out") == "out"
    with pytest.raises(options.BadOption, match="outside guest RAM"):
        options.check_in_ram(2 << 20, 2, "--at")
    assert options.check_in_ram((2 << 20) - 1, 2, "--at") == (2 << 20) - 1


def test_defaults_parse():
    args = parse(build_parser(), ["run", IMAGE])
    assert args.memory == 128 and args.serial == options.Serial("stdio") and args.timeout is None
    args = parse(build_parser(), ["inspect", IMAGE])
    assert args.top == 10 and args.serial == options.Serial("null") and args.at is None
