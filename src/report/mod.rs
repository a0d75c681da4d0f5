//! Report: events and their listeners (progress, per-host logs, journal, JSON).
