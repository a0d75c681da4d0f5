"""W2 template for pyinfra: the same template, variables, mode and checksum as w2-template.yaml."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

files.template(
    name="render the config",
    src=str(Path(__file__).parent / "templates" / "app.conf.j2"),
    dest="/root/app.conf",
    mode="644",
    # the variables Ansible and rtmig take from the inventory
    inventory_hostname=host.name,
    ansible_host=host.data.ssh_hostname,
    app_port=host.data.app_port,
    app_zone=host.data.app_zone,
    app_id=host.data.app_id,
)
server.shell(name="checksum the config", commands=["sha256sum /root/app.conf"])
