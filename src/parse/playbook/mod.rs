//! Playbooks: Ansible-flavoured YAML, a documented subset.
