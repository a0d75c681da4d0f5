//! The command line: clap declarations and their conversion into option structs.
//! No I/O happens here; `crate::run` does the work. Depends only on `clap`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const RUN_EXAMPLES: &str = "\
Examples:
  rtmig run -i inventory.yaml playbooks/migrate.yaml
  rtmig run -i inventory.yaml playbooks/migrate.yaml --limit node3
  rtmig run -i inventory.yaml playbooks/migrate.yaml --check --diff
  rtmig run -i inventory.yaml playbooks/migrate.yaml --resume      # after a failure
  rtmig run -i hosts.ini site.yaml -e max_unavailable=2 -e @vars.yaml";

const PLAN_EXAMPLES: &str = "\
Examples:
  rtmig plan -i inventory.yaml playbooks/migrate.yaml
  rtmig plan -i inventory.yaml playbooks/migrate.yaml --limit 'workers:!node3'";

const INVENTORY_EXAMPLES: &str = "\
Examples:
  rtmig inventory -i inventory.yaml --list
  rtmig inventory -i hosts.ini --graph
  rtmig inventory -i inventory.yaml --limit 'kube_node:&zone_a' --hosts";

#[derive(Debug, Parser)]
#[command(
    name = "rtmig",
    version,
    about = "Agentless SSH orchestrator that migrates Kubernetes nodes from Docker to containerd",
    long_about = None,
    after_help = "Exit codes: 0 success, 1 usage or invalid input, 2 a host failed, 4 a host was unreachable, 99 interrupted."
)]
pub struct Cli {
    /// More output: -v shows task results, -vv commands, -vvv connection details.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook against the inventory's hosts.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Print what a run would do (plays, batches, hosts, steps) without connecting anywhere.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Parse and check the inventory, the playbook and its templates; print every problem.
    Validate(PlanArgs),
    /// Show the inventory the way `ansible-inventory` does.
    #[command(after_help = INVENTORY_EXAMPLES)]
    Inventory(InventoryArgs),
    /// Show the state of the last run of a playbook, per host.
    Status(StatusArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Inventory file (YAML or INI, as Ansible reads them).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: PathBuf,

    /// Playbook file.
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: PathBuf,

    /// Only these hosts: an Ansible pattern (`node*`, `workers:!node3`, `masters:&zone_a`, `@retry_file`).
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Extra variables, highest precedence: `key=value` pairs or `@file.yaml`. Repeatable.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,

    #[command(flatten)]
    pub vault: VaultArgs,
}

/// Vault passwords, as Ansible takes them (`ANSIBLE_VAULT_PASSWORD_FILE` is read too).
#[derive(Debug, Clone, Default, Args)]
pub struct VaultArgs {
    /// A vault password for vault id ID (`default` without `ID@`): a file, run when
    /// executable, or `prompt`. Repeatable.
    #[arg(long = "vault-id", value_name = "[ID@]FILE")]
    pub vault_ids: Vec<String>,

    /// A file holding the vault password (an executable one is run and its output
    /// used). Repeatable.
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        value_name = "FILE"
    )]
    pub password_files: Vec<PathBuf>,

    /// Ask for the vault password on the terminal.
    #[arg(long = "ask-vault-pass", visible_alias = "ask-vault-password")]
    pub ask: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,

    /// Only tasks with these tags (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Skip tasks with these tags (comma-separated).
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Progress bars on a terminal, one line per event otherwise.
    Text,
    /// One JSON object per event on standard output.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    /// How many hosts run at once.
    #[arg(short = 'f', long, default_value_t = 256)]
    pub forks: usize,

    /// Change nothing: report what would change.
    #[arg(short = 'C', long)]
    pub check: bool,

    /// Show the differences in files that are (or would be) changed.
    #[arg(short = 'D', long)]
    pub diff: bool,

    /// Run the notified handlers of a host even when it failed (the play keyword
    /// `force_handlers: true` does the same).
    #[arg(long)]
    pub force_handlers: bool,

    /// Continue the last unfinished run of this playbook where each host stopped.
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,

    /// Start over even though the last run of this playbook did not finish.
    #[arg(long)]
    pub fresh: bool,

    /// Start at the first task with this name.
    #[arg(
        long = "start-at",
        visible_alias = "start-at-task",
        value_name = "TASK"
    )]
    pub start_at: Option<String>,

    /// Do not ask before a run that changes hosts.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Record the host keys of hosts not yet in known_hosts (OpenSSH's accept-new).
    #[arg(long)]
    pub accept_new_host_keys: bool,

    /// With --resume: accept a playbook that changed since the interrupted run.
    #[arg(long, requires = "resume")]
    pub allow_changed_playbook: bool,

    /// Connection timeout in seconds (as Ansible's `--timeout`).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,

    /// Time limit of a task without a `timeout:` of its own (each `until` try on its
    /// own). A command still running when it is up is stopped on the host (TERM, then
    /// KILL) and the task fails.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub task_timeout: Option<u64>,

    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("mode").required(true))]
pub struct InventoryArgs {
    /// Inventory file (YAML or INI).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: PathBuf,

    /// All groups, hosts and merged variables as JSON (as `ansible-inventory --list`).
    #[arg(long, group = "mode")]
    pub list: bool,

    /// The group tree (as `ansible-inventory --graph`).
    #[arg(long, group = "mode")]
    pub graph: bool,

    /// The hosts matching --limit, one per line (as `ansible PATTERN --list-hosts`).
    #[arg(long, group = "mode")]
    pub hosts: bool,

    /// With --graph: show the variables of each host too.
    #[arg(long)]
    pub vars: bool,

    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,

    #[command(flatten)]
    pub vault: VaultArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventory: PathBuf,
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_the_documented_flags() {
        let cli = Cli::try_parse_from([
            "rtmig",
            "run",
            "-i",
            "inv.yaml",
            "site.yaml",
            "--limit",
            "node3",
            "-e",
            "a=1",
            "-e",
            "@v.yaml",
            "--forks",
            "5",
            "--check",
            "--diff",
            "--resume",
            "--tags",
            "x,y",
        ])
        .unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.plan.target.extra_vars, ["a=1", "@v.yaml"]);
        assert_eq!(r.plan.tags, ["x", "y"]);
        assert_eq!(r.forks, 5);
        assert!(r.check && r.diff && r.resume);
    }

    #[test]
    fn vault_options_are_ansibles_and_repeatable() {
        let cli = Cli::try_parse_from([
            "rtmig",
            "plan",
            "-i",
            "inv.yaml",
            "site.yaml",
            "--vault-id",
            "prod@prod.txt",
            "--vault-password-file",
            "a.txt",
            "--vault-pass-file",
            "b.txt",
            "--ask-vault-pass",
        ])
        .unwrap();
        let Command::Plan(p) = cli.command else {
            panic!("not plan")
        };
        let v = p.target.vault;
        assert_eq!(v.vault_ids, ["prod@prod.txt"]);
        assert_eq!(
            v.password_files,
            [PathBuf::from("a.txt"), PathBuf::from("b.txt")]
        );
        assert!(v.ask);
    }

    #[test]
    fn resume_and_fresh_conflict() {
        assert!(
            Cli::try_parse_from(["rtmig", "run", "-i", "i", "p", "--resume", "--fresh"]).is_err()
        );
    }
}
