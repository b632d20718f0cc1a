"""One platform wheel of agnt, written with the standard library only (no network, no `wheel` module).

    python3 scripts/wheel.py <binary> <version> <platform tag> <out dir>

writes `<out dir>/agnt-<version>-py3-none-<platform tag>.whl` holding the compiled `agnt` as
`agnt-<version>.data/scripts/agnt` (`agnt.exe` when the binary's name ends in `.exe`), mode 0755,
which pip installs as the environment's `agnt` command; with the `.dist-info` METADATA, WHEEL and a
RECORD of every file's sha256 and size (PEP 427 / PEP 376). Entries carry a fixed date, so the same
binary gives the same wheel. Prints the wheel's path.
"""

import base64
import hashlib
import os
import sys
import zipfile

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{name},sha256={digest},{len(data)}"


def entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, FIXED_DATE)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def main(binary: str, version: str, tag: str, out_dir: str) -> None:
    script = "agnt.exe" if binary.endswith(".exe") else "agnt"
    dist_info = f"agnt-{version}.dist-info"
    with open(binary, "rb") as file:
        program = file.read()
    metadata = "\n".join([
        "Metadata-Version: 2.1",
        "Name: agnt",
        f"Version: {version}",
        "Summary: agnt: the command line of a marketplace and job system for specialised AI agents",
        "",
        "The compiled `agnt` command line, the same binary as the npm package's.",
        "",
    ]).encode()
    wheel = "\n".join([
        "Wheel-Version: 1.0",
        "Generator: agnt scripts/wheel.py",
        "Root-Is-Purelib: false",
        f"Tag: py3-none-{tag}",
        "",
    ]).encode()
    files = [
        (f"agnt-{version}.data/scripts/{script}", program, 0o755),
        (f"{dist_info}/METADATA", metadata, 0o644),
        (f"{dist_info}/WHEEL", wheel, 0o644),
    ]
    record = "\n".join([record_line(name, data) for name, data, _ in files] + [f"{dist_info}/RECORD,,", ""]).encode()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"agnt-{version}-py3-none-{tag}.whl")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in files + [(f"{dist_info}/RECORD", record, 0o644)]:
            archive.writestr(entry(name, mode), data, compresslevel=6)
    print(path)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
