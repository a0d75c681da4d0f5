#!/usr/bin/env python3
"""Leave russh's private test keys out of the vendored copy (vendor/README.md).

Run from the repository root on a fresh copy of russh's src/ in vendor/russh/src, after
vendor/russh.patch: drops the test modules of helpers.rs and keys/mod.rs and
keys/format/tests.rs (they embed private keys), elides the key of keys/mod.rs's doc
example, and writes the PEM headers keys/format/mod.rs looks for in two parts. The
library built is unchanged; russh's own tests are not vendored."""
import re
import sys
from pathlib import Path

root = Path("vendor/russh/src")


def cut_from(path: Path, marker: str) -> None:
    text = path.read_text()
    at = text.find(marker)
    if at < 0:
        sys.exit(f"{path}: `{marker.splitlines()[-1]}` not found: update this script")
    path.write_text(text[:at].rstrip("\n") + "\n")


cut_from(root / "helpers.rs",
         '#[cfg(all(test, not(feature = "rsa"), any(feature = "ring", feature = "aws-lc-rs")))]\nmod tests {')
cut_from(root / "keys/mod.rs", "#[cfg(test)]\nmod test {")

keys = root / "keys/mod.rs"
keys.write_text("\n".join(
    "//! const PKCS8_ENCRYPTED: &'static str = \"...\"; // an encrypted PKCS#8 key: left out of rtmig's vendored copy"
    if line.startswith("//! const PKCS8_ENCRYPTED") else line
    for line in keys.read_text().split("\n")
))

(root / "keys/format/tests.rs").unlink(missing_ok=True)
fmt = root / "keys/format/mod.rs"
text = fmt.read_text().replace("#[cfg(test)]\nmod tests;\n", "", 1)
text = re.sub(r'"-----BEGIN ((?:[A-Z]+ )*)PRIVATE KEY-----"',
              lambda m: f'concat!("-----BEGIN {m.group(1)}", "PRIVATE KEY-----")', text)
text = re.sub(r'b"-----BEGIN ((?:[A-Z]+ )*)PRIVATE KEY-----\\n"',
              lambda m: f'concat!("-----BEGIN {m.group(1)}", "PRIVATE KEY-----\\n").as_bytes()', text)
fmt.write_text(text)

left = [str(p) for p in root.rglob("*.rs") if re.search(r"BEGIN [A-Z ]*PRIVATE KEY", p.read_text())]
if left:
    sys.exit("a private key header is still in: " + ", ".join(left))
