"""W3 bulk for pyinfra: push `bulk_src` (given with --data) as w3-bulk.yaml does."""

from pyinfra import host
from pyinfra.operations import files

files.put(name="push the bulk file", src=host.data.bulk_src, dest="/root/bulk.bin", mode="644")
