//! The SSH transport (russh). See the engine issue; built in `transport/ssh/`.
