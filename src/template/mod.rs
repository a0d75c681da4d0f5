//! Templates and expressions: one minijinja environment with the filters operators need.
