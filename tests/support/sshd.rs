//! Placeholder until the SSH test harness lands.
