//! Execute: the scheduler that walks the plan, and the task runner.
