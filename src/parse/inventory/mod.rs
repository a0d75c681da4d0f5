//! Inventories as Ansible reads them (YAML, INI, group_vars/, host_vars/) and `--limit` patterns.
