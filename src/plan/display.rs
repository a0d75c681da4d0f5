//! `rtmig plan`'s text: every play, its batches and the tasks each host runs, compact
//! enough to review before touching a production cluster.

use std::fmt::{self, Write};

use super::{Plan, PlayPlan, TaskPlan};
use crate::parse::playbook::{Order, Section};
use crate::plural;

/// Host lists are wrapped at this width.
const WIDTH: usize = 96;

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, play) in self.plays.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write_play(f, play)?;
        }
        Ok(())
    }
}

fn write_play(f: &mut fmt::Formatter<'_>, play: &PlayPlan) -> fmt::Result {
    writeln!(f, "PLAY {} [{}]", play.index + 1, play.name)?;
    if let Some(rt) = &play.runtime {
        writeln!(
            f,
            "  hosts: decided at run time, when the play starts, from `{}`",
            rt.written
        )?;
        for why in &rt.because {
            writeln!(f, "    depends on {why}")?;
        }
        match &rt.preview_error {
            Some(e) => writeln!(f, "    with inventory data alone: cannot be computed ({e})")?,
            None if play.hosts.is_empty() => writeln!(
                f,
                "    with inventory data alone: {} -> no hosts",
                play.pattern
            )?,
            None => writeln!(
                f,
                "    with inventory data alone: {} -> {} (below)",
                play.pattern,
                plural(play.hosts.len(), "host", "hosts")
            )?,
        }
        if play.hosts.is_empty() {
            return write_tasks(f, play);
        }
    } else if play.hosts.is_empty() {
        return writeln!(f, "  hosts: {} -> skipping: no hosts matched", play.pattern);
    }
    let mut facts = String::new();
    if play.gather_facts {
        facts.push_str(", facts gathered");
    }
    if play.runtime.is_none() {
        writeln!(
            f,
            "  hosts: {} -> {}{facts}",
            play.pattern,
            plural(play.hosts.len(), "host", "hosts")
        )?;
    } else if play.gather_facts {
        writeln!(f, "  facts gathered")?;
    }
    if !play.tags.is_empty() {
        writeln!(f, "  tags: {}", play.tags.join(", "))?;
    }

    let mut rules = vec![match &play.serial {
        Some(s) => format!("serial: {s}"),
        None => "serial: all at once".to_string(),
    }];
    if play.order != Order::Inventory {
        rules.push(format!("order: {}", order_name(play.order)));
    }
    if play.any_errors_fatal {
        rules.push("any error stops the play".to_string());
    } else if let Some(p) = play.max_fail_percentage {
        rules.push(format!("stop when more than {p}% of a batch fails"));
    }
    writeln!(
        f,
        "  {} ({})",
        plural(play.batches.len(), "batch", "batches"),
        rules.join(", ")
    )?;
    let width = play.batches.len().to_string().len();
    for (i, batch) in play.batches.iter().enumerate() {
        let head = format!("    {:>width$}. ", i + 1);
        write_wrapped(f, &head, batch)?;
    }
    write_tasks(f, play)
}

/// The play's tasks, and how many `--tags`/`--start-at` left out.
fn write_tasks(f: &mut fmt::Formatter<'_>, play: &PlayPlan) -> fmt::Result {
    if play.tasks.is_empty() {
        writeln!(f, "  no tasks")?;
    } else {
        writeln!(
            f,
            "  tasks, in order, on every host of a batch (run_once: on its first host only):"
        )?;
        let width = play
            .tasks
            .iter()
            .map(|t| t.index + 1)
            .max()
            .unwrap_or(1)
            .to_string()
            .len();
        let mut shown: Vec<(usize, Section)> = Vec::new();
        for task in &play.tasks {
            let chain = block_chain(play, task);
            let same = shown.iter().zip(&chain).take_while(|(a, b)| a == b).count();
            for (depth, (b, section)) in chain.iter().enumerate().skip(same) {
                let head = match section {
                    Section::Block => match &play.blocks[*b].name {
                        Some(name) => format!("block [{name}]:"),
                        None => "block:".to_string(),
                    },
                    Section::Rescue => "rescue (when the block fails):".to_string(),
                    Section::Always => "always:".to_string(),
                };
                writeln!(f, "    {:>width$}  {}{head}", "", "  ".repeat(depth))?;
            }
            shown = chain;
            write_task(f, play, task, shown.len(), width)?;
        }
    }
    if !play.handlers.is_empty() {
        writeln!(
            f,
            "  handlers, in this order, on the hosts whose tasks notified them and changed something; flushed after pre_tasks, tasks and post_tasks, and by meta: flush_handlers{}:",
            if play.force_handlers {
                " (also on failed hosts: force_handlers)"
            } else {
                ""
            }
        )?;
        let width = play.handlers.len().to_string().len();
        for h in &play.handlers {
            writeln!(f, "    {:>width$}. {:<9} {}", h.index + 1, h.action, h.name)?;
            if !h.listen.is_empty() {
                writeln!(
                    f,
                    "    {:>width$}  {:<9} listen: {}",
                    "",
                    "",
                    h.listen.join(", ")
                )?;
            }
        }
    }
    if play.skipped_tasks > 0 {
        writeln!(
            f,
            "  ({} left out by --tags, --skip-tags or --start-at)",
            plural(play.skipped_tasks, "task", "tasks")
        )?;
    }
    Ok(())
}

/// One task, and under it what decides where and whether it runs. Tags the play gives
/// every task are shown once, on the play.
fn write_task(
    f: &mut fmt::Formatter<'_>,
    play: &PlayPlan,
    task: &TaskPlan,
    depth: usize,
    width: usize,
) -> fmt::Result {
    let play_tags = &play.tags;
    let indent = "  ".repeat(depth);
    writeln!(
        f,
        "    {:>width$}. {indent}{:<9} {}",
        task.index + 1,
        task.action,
        task.name
    )?;
    let mut notes = Vec::new();
    if task.run_once {
        notes.push("run_once".to_string());
    }
    if let Some(d) = &task.delegate_to {
        notes.push(format!("delegate_to: {d}"));
    }
    if !task.when.is_empty() {
        notes.push(format!("when: {}", task.when.join(" and ")));
    }
    if task.span > 0 {
        notes.push(format!(
            "brings in the next {}, run per host as it decides",
            plural(task.span, "task", "tasks")
        ));
    }
    let own: Vec<&str> = task
        .tags
        .iter()
        .filter(|t| !play_tags.contains(t))
        .map(String::as_str)
        .collect();
    if !own.is_empty() {
        notes.push(format!("tags: {}", own.join(", ")));
    }
    if !task.notify.is_empty() {
        let names: Vec<&str> = task
            .notify
            .iter()
            .filter_map(|h| play.handlers.get(*h))
            .map(|h| h.name.as_str())
            .collect();
        notes.push(format!("notify: {}", names.join(", ")));
    }
    if !notes.is_empty() {
        writeln!(
            f,
            "    {:>width$}  {indent}{:<9} {}",
            "",
            "",
            notes.join("; ")
        )?;
    }
    Ok(())
}

/// The blocks holding a task, outermost first, each with the section the task is in.
fn block_chain(play: &PlayPlan, task: &TaskPlan) -> Vec<(usize, Section)> {
    let mut chain = Vec::new();
    let mut at = task.block;
    while let Some(b) = at {
        let block = &play.blocks[b];
        chain.push((b, block.section(task.index)));
        at = block.parent;
    }
    chain.reverse();
    chain
}

/// `head` then the hosts, comma-separated, wrapped under the first one.
fn write_wrapped(f: &mut fmt::Formatter<'_>, head: &str, hosts: &[String]) -> fmt::Result {
    let indent = " ".repeat(head.len());
    let mut line = head.to_string();
    for (i, host) in hosts.iter().enumerate() {
        let sep = if i + 1 < hosts.len() { "," } else { "" };
        if line.len() > head.len() && line.len() + host.len() + 1 > WIDTH {
            writeln!(f, "{}", line.trim_end())?;
            line = indent.clone();
        }
        let _ = write!(line, "{host}{sep} ");
    }
    writeln!(f, "{}", line.trim_end())
}

fn order_name(order: Order) -> &'static str {
    match order {
        Order::Inventory => "inventory",
        Order::ReverseInventory => "reverse_inventory",
        Order::Sorted => "sorted",
        Order::ReverseSorted => "reverse_sorted",
        Order::Shuffle => "shuffle",
    }
}
