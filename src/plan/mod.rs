//! Plan: which hosts run which tasks, in which plays, batches and order. Pure data.
