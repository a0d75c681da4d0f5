//! The flow of a host through a play's tasks: which task comes next after one
//! succeeded or failed, with Ansible's `block` / `rescue` / `always` rules. Pure: the
//! scheduler asks, then runs the task it is given.
//!
//! Positions are indices in the list of tasks the host runs (after `--tags`); blocks
//! are ranges of those positions. A failure in a block's tasks goes to its `rescue`
//! (the failure is then cleared: the host is *rescued*); a failure in a rescue, or in a
//! block without one, goes to its `always` with the host still failing; when a block
//! is left failing, the enclosing block handles the failure, and outside every block
//! the host has failed. A failure in an `always` leaves the block at once.

use crate::parse::playbook::{Block, Section};

/// What a host does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run the task at this position.
    Run(usize),
    /// Every task is done: the host succeeded.
    Done,
    /// The host failed (a failure no `rescue` cleared).
    Failed,
}

/// One host's walk through a play.
pub struct Walk<'a> {
    blocks: &'a [Block],
    /// The innermost block of each position.
    block_of: &'a [Option<usize>],
    /// Failing, not yet rescued: only `always` sections run until a rescue clears it.
    pub failing: bool,
    /// Set when a failure goes into a rescue.
    caught: bool,
}

impl<'a> Walk<'a> {
    pub fn new(blocks: &'a [Block], block_of: &'a [Option<usize>]) -> Self {
        Walk {
            blocks,
            block_of,
            failing: false,
            caught: false,
        }
    }

    fn len(&self) -> usize {
        self.block_of.len()
    }

    pub fn start(&mut self) -> Next {
        self.next_in(0, None)
    }

    /// Where to go once the task at `p` is over, and whether a `rescue` caught a
    /// failure on the way (the host is rescued): the task's own failure, or the one
    /// an inner block is left with after its `always`.
    pub fn after(&mut self, p: usize, failed: bool) -> (Next, bool) {
        self.caught = false;
        let at = self.block_of[p].map(|b| (b, self.blocks[b].section(p)));
        let next = match (failed, at) {
            (false, at) => self.next_in(p + 1, at),
            (true, None) => {
                self.failing = true;
                Next::Failed
            }
            (true, Some((b, section))) => self.on_failure(b, section),
        };
        (next, self.caught)
    }

    fn has_rescue(&self, b: usize) -> bool {
        self.blocks[b].rescue < self.blocks[b].always
    }

    /// Go on at `q` inside `at` (a block and one of its sections), or at top level.
    fn next_in(&mut self, q: usize, at: Option<(usize, Section)>) -> Next {
        match at {
            None if q < self.len() => Next::Run(q),
            None if self.failing => Next::Failed,
            None => Next::Done,
            Some((b, section)) if q < self.blocks[b].section_end(section) => Next::Run(q),
            Some((b, Section::Always)) => self.leave(b),
            Some((b, _)) => self.next_in(self.blocks[b].always, Some((b, Section::Always))),
        }
    }

    /// Block `b` is over (its always done, or skipped by a failure in it).
    fn leave(&mut self, b: usize) -> Next {
        let block = &self.blocks[b];
        let parent = block
            .parent
            .map(|p| (p, self.blocks[p].section(block.start)));
        if !self.failing {
            return self.next_in(block.end, parent);
        }
        match parent {
            None => Next::Failed,
            Some((p, section)) => self.on_failure(p, section),
        }
    }

    fn on_failure(&mut self, b: usize, section: Section) -> Next {
        self.failing = true;
        let block = &self.blocks[b];
        match section {
            Section::Block if self.has_rescue(b) => {
                self.failing = false;
                self.caught = true;
                Next::Run(block.rescue)
            }
            Section::Block | Section::Rescue => {
                self.next_in(block.always, Some((b, Section::Always)))
            }
            Section::Always => self.leave(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Location;

    fn block(parent: Option<usize>, r: [usize; 4]) -> Block {
        Block {
            location: Location::new(std::path::Path::new("p.yaml"), 1, 1),
            name: None,
            parent,
            start: r[0],
            rescue: r[1],
            always: r[2],
            end: r[3],
        }
    }

    /// The positions a host runs, failing those in `fails`, and how it ends.
    fn walk(blocks: &[Block], n: usize, fails: &[usize]) -> (Vec<usize>, Next, usize) {
        let block_of: Vec<Option<usize>> = (0..n)
            .map(|p| {
                blocks
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.contains(p))
                    .map(|(i, _)| i)
                    .next_back()
            })
            .collect();
        let mut w = Walk::new(blocks, &block_of);
        let mut ran = Vec::new();
        let mut rescued = 0;
        let mut next = w.start();
        while let Next::Run(p) = next {
            ran.push(p);
            let (n, caught) = w.after(p, fails.contains(&p));
            rescued += usize::from(caught);
            next = n;
        }
        (ran, next, rescued)
    }

    // 0 | block [1 2] rescue [3] always [4] | 5
    fn simple() -> Vec<Block> {
        vec![block(None, [1, 3, 4, 5])]
    }

    #[test]
    fn a_block_that_succeeds_skips_its_rescue_and_runs_its_always() {
        assert_eq!(
            walk(&simple(), 6, &[]),
            (vec![0, 1, 2, 4, 5], Next::Done, 0)
        );
    }

    #[test]
    fn a_rescued_failure_runs_rescue_then_always_and_the_host_goes_on() {
        assert_eq!(
            walk(&simple(), 6, &[1]),
            (vec![0, 1, 3, 4, 5], Next::Done, 1)
        );
    }

    #[test]
    fn a_failed_rescue_runs_always_then_fails_the_host() {
        assert_eq!(
            walk(&simple(), 6, &[2, 3]),
            (vec![0, 1, 2, 3, 4], Next::Failed, 1)
        );
    }

    #[test]
    fn without_rescue_always_runs_and_the_host_fails() {
        let blocks = vec![block(None, [0, 1, 1, 2])];
        assert_eq!(walk(&blocks, 3, &[0]), (vec![0, 1], Next::Failed, 0));
    }

    #[test]
    fn a_failure_in_always_leaves_the_block_at_once() {
        let blocks = vec![block(None, [0, 1, 1, 3])];
        assert_eq!(walk(&blocks, 4, &[1]), (vec![0, 1], Next::Failed, 0));
    }

    // block [ 0, block [1] always [2], 3 ] rescue [4] always [5] | 6
    #[test]
    fn an_inner_always_runs_before_the_outer_rescue() {
        let blocks = vec![block(None, [0, 4, 5, 6]), block(Some(0), [1, 2, 2, 3])];
        assert_eq!(
            walk(&blocks, 7, &[1]),
            (vec![0, 1, 2, 4, 5, 6], Next::Done, 1)
        );
        assert_eq!(
            walk(&blocks, 7, &[]),
            (vec![0, 1, 2, 3, 5, 6], Next::Done, 0)
        );
    }

    // block [ block [0] rescue [1] ] always [2]: the inner rescue clears the failure.
    #[test]
    fn a_rescued_inner_block_does_not_fail_the_outer_one() {
        let blocks = vec![block(None, [0, 2, 2, 3]), block(Some(0), [0, 1, 2, 2])];
        assert_eq!(walk(&blocks, 3, &[0]), (vec![0, 1, 2], Next::Done, 1));
    }

    // A block that ends the play: its always is the last task.
    #[test]
    fn a_failure_with_no_tasks_left_still_fails() {
        let blocks = vec![block(None, [0, 1, 1, 1])];
        assert_eq!(walk(&blocks, 1, &[0]), (vec![0], Next::Failed, 0));
    }
}
